"""The OpenAPI document as the API really behaves, so that clients and fuzzers can rely on it.

FastAPI's own document declares a 422 body (``HTTPValidationError``) we never send, and knows no request body for
routes that read theirs by hand (the layer imports, plans). Here, once for every operation:

- every error response is the one shape of API.md (``ErrorOut``): 422 wherever there is input, 401/403 where a token is
  needed, 413 where there is a body, 503 when the database is away, and ``default`` for any other error;
- routes that read their own body declare it with ``multipart_body`` or ``document_body`` (``openapi_extra``);
- the limits the door enforces are written in: each body's size (``x-max-body-bytes``) and the 64-bit range of every
  integer (web/door.py refuses the rest).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema

from core.bounds import PG_BIGINT_MAX, PG_BIGINT_MIN
from web.door import BODY_LIMIT_KEY, BodyKind

REF = "#/components/schemas/{model}"
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
_DOCUMENT_MODELS: dict[str, type[BaseModel]] = {}


class FieldProblem(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    """Every error answer: a stable ``error`` code and a ``detail`` for a person; ``field`` names the input at fault,
    ``fields`` lists each one of a validation error. Some errors add context (the unit that is taken, ...)."""

    model_config = ConfigDict(extra="allow")

    error: str
    detail: str
    field: str | None = None
    fields: list[FieldProblem] | None = None


def multipart_body(fields: dict[str, dict[str, Any]], *, required: list[str]) -> dict[str, Any]:
    """``openapi_extra`` declaring a multipart/form-data body with these fields (JSON Schema each)."""
    schema = {"type": "object", "properties": fields, "required": required}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def document_body(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` declaring a body read by hand: ``model`` as JSON, or the same document as YAML."""
    _DOCUMENT_MODELS[model.__name__] = model
    schema = {"$ref": REF.format(model=model.__name__)}
    content = {media: {"schema": schema} for media in ("application/json", *YAML_TYPES)}
    return {"requestBody": {"required": required, "content": content}}


def _error(description: str) -> dict[str, Any]:
    schema = {"$ref": REF.format(model="ErrorOut")}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors_of(operation: dict[str, Any], *, api: bool) -> dict[str, dict[str, Any]]:
    errors = {}
    if operation.get("security"):
        errors["401"] = _error("No token, or a token that does not prove who you are")
        errors["403"] = _error("Your role may not do this")
    if "requestBody" in operation:
        errors["413"] = _error("The body is larger than this endpoint accepts")
    if "requestBody" in operation or operation.get("parameters"):
        errors["422"] = _error("The input is not valid: `field`/`fields` name what is wrong")
    if api:
        errors["503"] = _error("The database (or Redis) does not answer; try again shortly")
    errors["default"] = _error("Any other error, in the same shape")
    return errors


def _bound_integers(node: Any) -> None:
    """Every integer schema without its own range gets the 64-bit one the door enforces."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            node.setdefault("minimum", PG_BIGINT_MIN)
            node.setdefault("maximum", PG_BIGINT_MAX)
        for value in node.values():
            _bound_integers(value)
    elif isinstance(node, list):
        for value in node:
            _bound_integers(value)


def _add_document_models(components: dict[str, Any]) -> None:
    if not _DOCUMENT_MODELS:
        return
    _, top = models_json_schema([(m, "validation") for m in _DOCUMENT_MODELS.values()], ref_template=REF)
    for name, schema in top.get("$defs", {}).items():
        if name in components and components[name] != schema:
            raise RuntimeError(f"two different schemas are both called {name!r} in the OpenAPI document")
        components[name] = schema


def build(app: FastAPI, body_limits: dict[BodyKind, int]) -> dict[str, Any]:
    """The document of ``app``, corrected as the module docstring says."""
    spec = get_openapi(
        title=app.title, version=app.version, summary=app.summary, description=app.description, routes=app.routes
    )
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    components["ErrorOut"] = ErrorOut.model_json_schema(ref_template=REF)
    components["FieldProblem"] = components["ErrorOut"].pop("$defs")["FieldProblem"]
    _add_document_models(components)
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status, response in responses.items():  # a route's own error responses (readyz's 503) too
                if status.startswith(("4", "5")):
                    response.setdefault("content", _error("")["content"])
            responses.update(_errors_of(operation, api=path.startswith("/api/")))
            if "requestBody" in operation:
                kind = BodyKind(operation.pop(BODY_LIMIT_KEY, BodyKind.json))
                operation["x-max-body-bytes"] = body_limits[kind]
    _bound_integers(spec)
    return spec


def install(app: FastAPI, body_limits: dict[BodyKind, int]) -> None:
    """Serve the corrected document at /openapi.json (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app, body_limits)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to replace the document
