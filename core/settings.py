"""Configuration from the environment (prefix ``COMMANDPOST_``) and a ``.env`` file at the project root."""

from __future__ import annotations

import ipaddress
import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# HS256 with a short key can be brute-forced from one token; scripts/setup writes 64 characters.
MIN_SECRET_KEY_LENGTH = 32
# The roles whose users may be required to sign in with TOTP (people; a gateway is a machine with its own secret).
TOTP_ROLES = ("admin", "duty_officer", "commander", "field_unit", "observer")
# Seconds a crew has to acknowledge a dispatch, by the incident's grade (DOMAIN.md section 2's levels).
GRADES = ("I", "II", "III", "IV")
DEFAULT_ACK_DEADLINES = {"I": 30.0, "II": 60.0, "III": 90.0, "IV": 180.0}


class Settings(BaseSettings):
    """Everything an operator may set. Defaults match API.md."""

    model_config = SettingsConfigDict(
        env_prefix="COMMANDPOST_",
        # The project root's .env first, then one in the working directory (which wins).
        env_file=(PROJECT_ROOT / ".env", ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
        hide_input_in_errors=True,  # a refused SECRET_KEY or password is not printed back
    )

    # --- Database ---
    # The PostgreSQL (with PostGIS and pgRouting) to use, as an SQLAlchemy URL with the asyncpg driver.
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/commandpost"
    # Each worker's pool: db_pool_size connections kept open, up to db_max_overflow more under load; a request
    # waits up to db_connect_timeout_s for a free connection, and as long for a new one to open.
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    db_connect_timeout_s: float = Field(default=5.0, gt=0)
    # Hardening, database load: a slow or silent database answers 503 in seconds and never holds the pool.
    # PostgreSQL cancels any statement of the API (and the scheduler) that runs longer than db_statement_timeout_s;
    # bulk work (layer imports, the road graph build, the CLI) may run db_bulk_timeout_s. db_command_timeout_s is
    # the client's own wait for any answer, for a network that drops everything (unset: the statement timeout plus
    # one second, so that PostgreSQL's own cancel comes first and the connection stays usable).
    db_statement_timeout_s: float = Field(default=5.0, gt=0, le=24 * 3600)
    db_command_timeout_s: float | None = Field(default=None, gt=0)
    db_bulk_timeout_s: float = Field(default=1800.0, gt=0, le=7 * 24 * 3600)
    # GET /readyz waits this long for PostgreSQL (and Redis) to answer before it says "unavailable" (503).
    readiness_timeout_s: float = Field(default=2.0, gt=0)

    # --- Redis ---
    # The Redis that carries events between workers and shares the counters (sign-in failures, location rates):
    # e.g. redis://127.0.0.1:6379/0. Unset: an in-process bus and counters in memory, so one worker only
    # (`commandpost serve --workers` above 1 refuses to start without it).
    redis_url: str | None = None
    # Put before every key and channel name, so several installations can share one Redis.
    redis_prefix: str = "commandpost"
    # Each worker's connections to Redis (redis_max_connections); a command waits up to redis_pool_wait_s for a free
    # one (then: Redis is treated as away for that call, e.g. counters fall back to memory).
    redis_max_connections: int = Field(default=50, ge=2, le=10_000)
    redis_pool_wait_s: float = Field(default=2.0, gt=0, le=60)

    # --- Sign-in and tokens ---
    # Signs the access tokens (HS256); at least 32 characters, or the service refuses to start. Unset: nothing can
    # sign in (503). Changing it ends every access token at once.
    secret_key: SecretStr | None = None
    # When set, `commandpost db upgrade` and the service's start create the user admin with it (or reset its password).
    admin_password: SecretStr | None = None
    # Minutes an access token is good for; the pages renew theirs with the refresh token before it ends.
    token_minutes: int = Field(default=60, ge=1, le=60 * 24 * 30)
    # A refresh token (core/refresh.py) unused for refresh_idle_hours expires; a sign-in's family of them ends
    # refresh_session_hours after the sign-in, however often it was renewed (a wall screen signs in again once a
    # week by default).
    refresh_idle_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    refresh_session_hours: float = Field(default=24.0 * 7, gt=0, le=24 * 90)
    # A refresh token presented again within refresh_reuse_grace_seconds of its exchange, while its replacement has
    # never been used, is a renewal whose answer was lost (a phone in a tunnel): exchanged again rather than taken
    # for a theft that ends the sign-in. 0 turns the grace off (every second use ends the sign-in).
    refresh_reuse_grace_seconds: float = Field(default=30.0, ge=0, le=600)
    # A token's user (active? password unchanged? role?) is looked up at most once per this many seconds per worker:
    # deactivating a user or resetting a password takes effect everywhere within it. 0 looks up every request.
    auth_cache_seconds: float = Field(default=5.0, ge=0, le=60)

    # --- Intake ---
    # A report within duplicate_radius_m and duplicate_window_minutes of an open incident of its subtype is flagged
    # as a possible duplicate of it.
    duplicate_radius_m: float = Field(default=500.0, gt=0, le=50_000)
    duplicate_window_minutes: int = Field(default=120, gt=0, le=7 * 24 * 60)
    # The Chengdu extract (chengdu/chengdu_core_2018.osm.pbf) of some tests and benchmarks; the service never reads it.
    shared_data: Path = PROJECT_ROOT.parent / "shared" / "data"

    # --- Live streams (websockets) ---
    # Live stream: ws_queue_size events a websocket client may have waiting before it is cut off (it resumes by id);
    # each worker looks at the event table every hub_poll_seconds even when no doorbell rang.
    ws_queue_size: int = Field(default=1000, ge=10, le=100_000)
    hub_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # Messages a second a websocket client may send (bursts of twice that allowed); more closes it with 1008.
    ws_max_client_messages_per_s: float = Field(default=20.0, gt=0)
    # permessage-deflate on websockets: saves bandwidth on slow links, but costs a compression per message per
    # client (each connection has its own context), which dominates fan-out to many clients. Off unless asked.
    ws_compression: bool = False

    # --- Outbound delivery: webhooks, SMS, voice, email, Web Push ---
    # Outbound requests (webhooks, SMS gateways, CAP feeds: notify/urls.py): private and loopback addresses are
    # allowed (an agency's gateway is usually on its own network); link-local and cloud metadata never are.
    outbound_allow_private: bool = True
    # Outbound deliveries (notify/deliveries.py): the sweep sends what is due every delivery_sweep_seconds, at most
    # delivery_batch per run, delivery_concurrency at once, each with delivery_timeout_seconds; a failed try is
    # retried after delivery_backoff_base_seconds * 2^(tries-1) (capped at delivery_backoff_max_seconds, times a
    # random 0.5..1.5), and the delivery is dead after delivery_max_attempts tries (or at once when the receiver
    # refuses it for good: a 4xx, a recipient the SMTP server refuses with 5xx, an expired push subscription).
    # Concurrency: httpcore's pool costs grow with its connections (bench/deliveries.py, one sender to one local
    # receiver: 8 at once 490/s, 16 330/s, 64 190/s); raise it for many slow, distant receivers.
    delivery_sweep_seconds: float = Field(default=1.0, gt=0, le=3600)
    delivery_batch: int = Field(default=200, ge=1, le=10_000)
    delivery_concurrency: int = Field(default=16, ge=1, le=1_000)
    delivery_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    delivery_max_attempts: int = Field(default=6, ge=1, le=50)
    delivery_backoff_base_seconds: float = Field(default=10.0, gt=0, le=3600)
    delivery_backoff_max_seconds: float = Field(default=1800.0, gt=0, le=7 * 24 * 3600)
    # Webhooks are signed with this (X-Commandpost-Signature: sha256=HMAC(secret, timestamp + "." + body));
    # scripts/setup writes a random one into .env. Without it, webhook deliveries are dead with that reason.
    webhook_secret: SecretStr | None = None
    # SMS through a provider's HTTP API: POST sms_gateway_url with the JSON of sms_gateway_body (a JSON template
    # whose string values may use $to, $text and $id), and sms_gateway_auth_header ("Name: value") if set. A text
    # longer than sms_max_segments messages is cut (never inside a character) and ends with "…".
    sms_gateway_url: str | None = None
    sms_gateway_auth_header: SecretStr | None = None
    sms_gateway_body: str = '{"to": "$to", "text": "$text", "id": "$id"}'
    sms_max_segments: int = Field(default=3, ge=1, le=10)
    # Voice calls (text to speech) through a provider's HTTP API, the same way: voice_gateway_url, its auth header
    # (voice_gateway_auth_header) and JSON template (voice_gateway_body: $to, $text, $id). A plan's "phone" notice
    # calls a contact's voice channel when it has one.
    voice_gateway_url: str | None = None
    voice_gateway_auth_header: SecretStr | None = None
    voice_gateway_body: str = '{"to": "$to", "text": "$text", "id": "$id"}'
    # Email over SMTP (aiosmtplib): smtp_host unset means no email channel (email deliveries are dead, saying so).
    # smtp_port, and smtp_username with smtp_password when the server wants a login; smtp_starttls upgrades a plain
    # connection, smtp_tls connects with TLS from the start (usually port 465); mail comes from smtp_from.
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_from: str = "commandpost@localhost"
    # Web Push (VAPID, RFC 8292): the application server's key pair, vapid_private_key and vapid_public_key
    # (base64url; scripts/setup writes one into .env), and vapid_subject, the contact the push services may write to.
    vapid_private_key: SecretStr | None = None
    vapid_public_key: str | None = None
    vapid_subject: str = "mailto:admin@localhost"
    # Contacts imported from CSV: at most this many rows per file.
    contacts_import_max_rows: int = Field(default=10_000, ge=1, le=1_000_000)

    # --- Dispatch: deadlines, escalations, overdue units ---
    # Acknowledgement deadlines by the incident's grade (seconds from the dispatch; an ungraded incident gets IV's),
    # e.g. COMMANDPOST_ACK_DEADLINES='{"I": 30, "II": 60, "III": 90, "IV": 180}': every grade, each a positive
    # number, or the service refuses to start. A dispatch neither acknowledged nor departed by its deadline is
    # re-alerted; ack_escalate_after_seconds later (still unanswered) it is escalated to the commander.
    ack_deadlines: Annotated[dict[str, float], NoDecode] = Field(default_factory=lambda: dict(DEFAULT_ACK_DEADLINES))
    ack_escalate_after_seconds: float = Field(default=30.0, ge=0, le=3600)
    # How often the deadlines sweep looks for dispatches past their deadline (re-alert, escalation).
    dispatch_sweep_seconds: float = Field(default=5.0, gt=0)
    # A unit en route longer than its route's ETA (stored at dispatch) times unit_overdue_factor plus
    # unit_overdue_margin_seconds raises unit.overdue; a dispatched unit whose last fix is older than
    # unit_fix_stale_minutes raises unit.stale. Each once per episode; the unit timers sweep looks every
    # unit_timer_sweep_seconds.
    unit_overdue_factor: float = Field(default=1.0, ge=1, le=10)
    unit_overdue_margin_seconds: float = Field(default=300.0, ge=0, le=24 * 3600)
    unit_timer_sweep_seconds: float = Field(default=15.0, gt=0, le=3600)
    # How often the situation picture is looked at; a `situation.updated` event goes out when it has changed.
    situation_sweep_seconds: float = Field(default=2.0, gt=0, le=600)

    # --- Request bodies and layer files ---
    # Request bodies (web/door.py): a JSON or form body larger than this is refused with 413 while it streams, before
    # authentication. Uploads (max_upload_mb) and plan documents (plan_max_kb) have their own limits.
    max_body_kb: int = Field(default=1024, ge=16, le=1024 * 1024)
    # Layer uploads: larger bodies are refused with 413 before (or while) they are read.
    max_upload_mb: int = Field(default=200, ge=1, le=100_000)
    # A zip may expand to at most max_unzipped_mb, and at most max_zip_ratio times its compressed size (zip bombs).
    max_unzipped_mb: int = Field(default=2_000, ge=1, le=1_000_000)
    max_zip_ratio: float = Field(default=100.0, gt=1)
    # Layer file reads (uploads and `commandpost import-layer`; gis.read_process): each file is read in a child
    # process that may produce at most import_max_rows rows (counted while reading: 413), is killed after
    # import_read_seconds (422), and may map at most import_read_memory_mb of address space (more: 413 or 422).
    import_max_rows: int = Field(default=1_000_000, ge=1, le=100_000_000)
    import_read_seconds: float = Field(default=300.0, gt=0, le=24 * 3600)
    import_read_memory_mb: int = Field(default=4096, ge=256, le=1_000_000)

    # --- Plans and the scheduler ---
    # Plans: the largest plan document (YAML or JSON) accepted, by file or over the API (larger is refused, 413).
    plan_max_kb: int = Field(default=1024, ge=16, le=64 * 1024)
    # POST /plans/check (the dry run): at most this many example incidents per request, or stored incidents replayed
    # (admins: plans_check_max_examples_admin); more examples are refused (422), a larger stored ``limit`` is clamped.
    plans_check_max_examples: int = Field(default=100, ge=1, le=100_000)
    plans_check_max_examples_admin: int = Field(default=2_000, ge=1, le=100_000)
    # Periodic sweeps (overdue plan tasks, ...): run inside the web process, one process elected by an advisory
    # lock among all that embed it; `commandpost scheduler` runs them on their own. overdue_sweep_seconds: how
    # often plan tasks past their due time are looked for.
    scheduler_embedded: bool = True
    overdue_sweep_seconds: float = Field(default=30.0, ge=1, le=3600)

    # --- Roads, recommendation and impact ---
    # Roads: km/h by OSM highway class, over the defaults of gis.graph (0 leaves a class out of the graph), e.g.
    # COMMANDPOST_ROAD_SPEEDS_KMH='{"residential": 20}'. A point farther than road_max_snap_m from the nearest
    # road is off the network: its times fall back to the straight line, at straight_line_speed_kmh over
    # straight_line_detour times the distance (and say so). The leg between a point and its road counts at
    # road_access_speed_kmh. A unit's fix older than unit_fix_stale_minutes is not trusted.
    road_speeds_kmh: dict[str, float] = Field(default_factory=dict)
    road_max_snap_m: float = Field(default=500.0, gt=0, le=50_000)
    road_access_speed_kmh: float = Field(default=15.0, gt=0, le=200)
    straight_line_speed_kmh: float = Field(default=30.0, gt=0, le=300)
    straight_line_detour: float = Field(default=1.4, ge=1, le=5)
    unit_fix_stale_minutes: float = Field(default=10.0, gt=0, le=7 * 24 * 60)
    # Recommendation: a unit farther than this by travel time is not proposed (it counts as "too far").
    recommend_max_eta_minutes: float = Field(default=60.0, gt=0, le=24 * 60)
    # Default impact radii in metres by incident subtype, [IV, III, II, I], over the table of gis.impact, e.g.
    # COMMANDPOST_IMPACT_RADII_M='{"building_fire": [100, 200, 500, 1000]}'.
    impact_radii_m: dict[str, tuple[float, float, float, float]] = Field(default_factory=dict)

    # --- Unit locations ---
    # Location ingest (command/locations.py). Every fix is kept location_keep_days (older ones are refused, and the
    # day partitions of unit_fix older than that are detached by the fix_partitions sweep, which also creates
    # location_partition_days_ahead days ahead; detached tables stay for the operator to archive or drop). One caller
    # (a gateway, a phone) may send location_max_fixes_per_second fixes a second, summed over every worker (429).
    location_keep_days: int = Field(default=90, ge=1, le=3650)
    location_partition_days_ahead: int = Field(default=7, ge=1, le=60)
    location_max_fixes_per_second: int = Field(default=5000, ge=1, le=1_000_000)
    # At most one unit.location event per unit per location_stream_seconds reaches the live streams (0: one per
    # fix); the positions sweep (every location_stream_seconds) sends a unit's newest position when its interval ends.
    location_stream_seconds: float = Field(default=1.0, ge=0, le=60)
    # Single fixes (POST /units/{id}/location) wait in each worker's batcher to be committed together; beyond this
    # many waiting, a fix is refused at once with 503 and Retry-After: 1 (command/fix_batcher.py).
    location_max_waiting: int = Field(default=5000, ge=10, le=1_000_000)
    # How often the fix_partitions sweep makes the days ahead and detaches the old ones (see location_keep_days).
    fix_partition_sweep_seconds: float = Field(default=3600.0, gt=0)

    # --- Security headers and websocket messages ---
    # Security headers and websocket limits (web/headers.py, web/cli/serve.py). Strict-Transport-Security goes on
    # answers to HTTPS requests; behind a proxy that terminates TLS (and forwards plain HTTP) set HSTS_ALWAYS so every
    # answer carries it. HSTS_SECONDS=0 sends none. A client's websocket message larger than WS_MAX_MESSAGE_KB closes
    # its connection with 1009 (uvicorn's own default would let it send 16 MiB, which the server buffers).
    hsts_seconds: int = Field(default=31_536_000, ge=0, le=2 * 31_536_000)
    hsts_always: bool = False
    ws_max_message_kb: int = Field(default=64, ge=16, le=16 * 1024)

    # --- Sign-in limits, client addresses, audit bursts, open websockets ---
    # Failed sign-ins: signin_max_failures_per_name for one user name (or signin_max_failures_per_address for one
    # client address) within signin_window_seconds refuse that name (address) with 429 and Retry-After for
    # signin_lockout_seconds, before any password is checked. Counted in Redis under REDIS_PREFIX when REDIS_URL is
    # set (all workers share them), else in the worker's memory. password_hash_threads: argon2id checks (64 MiB
    # each) that may run at once per worker.
    signin_window_seconds: float = Field(default=300.0, gt=0, le=24 * 3600)
    signin_max_failures_per_name: int = Field(default=10, ge=1, le=10_000)
    signin_max_failures_per_address: int = Field(default=100, ge=1, le=1_000_000)
    signin_lockout_seconds: float = Field(default=60.0, gt=0, le=24 * 3600)
    password_hash_threads: int = Field(default=2, ge=1, le=64)
    # TOTP two-factor sign-in (core/totp.py): users of totp_required_roles (a JSON list or comma-separated role
    # names, e.g. admin,commander) cannot sign in with a password alone: without a confirmed TOTP they are sent to
    # enrol first. Empty: TOTP is each user's choice. totp_issuer names us in the authenticator app.
    totp_required_roles: Annotated[list[str], NoDecode] = Field(default_factory=list)
    totp_issuer: str = Field(default="Commandpost", min_length=1, max_length=64, pattern=r"^[^:]+$")
    # Reverse proxies (addresses or CIDR networks, a JSON list or comma-separated) whose X-Forwarded-For is believed:
    # the client is then the right-most address in it that is not one of them. Empty: the socket's peer, always.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Failed mutating requests of callers who proved no identity are counted per client address and route: one
    # audit row per burst of this many seconds, holding the count.
    audit_burst_seconds: float = Field(default=300.0, gt=0, le=24 * 3600)
    # Websockets: a token sent as the first message must come within ws_auth_timeout_s; an open socket re-checks its
    # user (active, same password, role) every ws_recheck_seconds and is closed when its token expires.
    ws_auth_timeout_s: float = Field(default=5.0, gt=0, le=60)
    ws_recheck_seconds: float = Field(default=30.0, gt=0, le=3600)

    # --- Warnings (CAP) and callers' personal data ---
    # POST /cap and every feed fetch: a CAP message (or feed) larger than cap_max_kb is refused (413 before reading).
    # Signed messages are verified against the PEM certificates in cap_trusted_certs (paths, a JSON list or
    # comma-separated); cap_sender is our <sender> in the CAP we write. Feeds are polled every cap_feed_interval_s
    # (a subscription may choose its own), each fetch limited to cap_feed_timeout_s; a failing feed waits twice as
    # long after each failure, up to cap_feed_max_backoff_s. The sweep looks for feeds due every
    # cap_feed_sweep_seconds.
    cap_max_kb: int = Field(default=5 * 1024, ge=16, le=1024 * 1024)
    cap_trusted_certs: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cap_sender: str = Field(default="commandpost@localhost", pattern=r"^[^\s,<&]{1,200}$")
    cap_feed_interval_s: float = Field(default=300.0, ge=10, le=86_400)
    cap_feed_timeout_s: float = Field(default=15.0, gt=0, le=300)
    cap_feed_max_backoff_s: float = Field(default=3600.0, ge=10, le=7 * 86_400)
    cap_feed_sweep_seconds: float = Field(default=15.0, gt=0, le=3600)
    # The caller's name and number (GET /incidents/{id}/caller) are erased this many days after the incident closed
    # or was cancelled (0: at the next sweep); the sweep looks every caller_sweep_seconds.
    caller_retention_days: float = Field(default=30.0, ge=0, le=3650)
    caller_sweep_seconds: float = Field(default=3600.0, gt=0, le=24 * 3600)

    # --- The field page ---
    # POST /incidents/{id}/photos: a photo larger than max_photo_mb is refused (413, before or while it streams);
    # an incident keeps at most max_photos_per_incident of them (409 beyond).
    max_photo_mb: int = Field(default=10, ge=1, le=100)
    max_photos_per_incident: int = Field(default=200, ge=1, le=10_000)

    # --- Metrics and logs ---
    # GET /metrics answers without a token to loopback and to the networks of metrics_allow (CIDRs or addresses, a
    # JSON list or comma-separated); anyone else gets 403. Each worker samples its event lag and pool every
    # metrics_sample_seconds.
    metrics_allow: Annotated[list[str], NoDecode] = Field(default_factory=list)
    metrics_sample_seconds: float = Field(default=5.0, gt=0, le=300)
    # Logs on standard error: one JSON object per line, or text for a person (auto: text when standard error is a
    # terminal, JSON otherwise).
    log_format: Literal["auto", "json", "text"] = "auto"

    def command_timeout_s(self, *, bulk: bool = False) -> float:
        """The client's wait for any answer from the database (see ``db_command_timeout_s``)."""
        if bulk:
            return self.db_bulk_timeout_s + 1.0
        return self.db_command_timeout_s or self.db_statement_timeout_s + 1.0

    @field_validator(
        "redis_url",
        "secret_key",
        "admin_password",
        "webhook_secret",
        "sms_gateway_url",
        "sms_gateway_auth_header",
        "voice_gateway_url",
        "voice_gateway_auth_header",
        "smtp_host",
        "smtp_username",
        "smtp_password",
        "vapid_private_key",
        "vapid_public_key",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `COMMANDPOST_REDIS_URL=` in a .env means "not configured", not "an empty URL".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("secret_key")
    @classmethod
    def _secret_key_is_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"SECRET_KEY must have at least {MIN_SECRET_KEY_LENGTH} characters (a short HS256 key can be guessed "
                "from one token); scripts/setup writes a random one, or use: python -c "
                "'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return value

    @field_validator("trusted_proxies", "metrics_allow", mode="before")
    @classmethod
    def _entries_are_networks(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else [p.strip() for p in text.split(",") if p.strip()]
        if isinstance(value, list):
            for entry in value:
                try:
                    ipaddress.ip_network(str(entry), strict=False)
                except ValueError as exc:
                    name = str(info.field_name).upper()
                    raise ValueError(f"{name}: {entry!r} is not an IP address or network") from exc
        return value

    @field_validator("totp_required_roles", mode="before")
    @classmethod
    def _roles(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else [p.strip() for p in text.split(",") if p.strip()]
        if isinstance(value, list):
            unknown = [str(v) for v in value if v not in TOTP_ROLES]
            if unknown:
                raise ValueError(f"TOTP_REQUIRED_ROLES: {', '.join(unknown)} is not one of {', '.join(TOTP_ROLES)}")
        return value

    @field_validator("cap_trusted_certs", mode="before")
    @classmethod
    def _cert_paths(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else [p.strip() for p in text.split(",") if p.strip()]
        return value

    @field_validator("ack_deadlines", mode="before")
    @classmethod
    def _deadlines_cover_every_grade(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError("ACK_DEADLINES must be a JSON object of seconds by grade") from None
        if not isinstance(value, dict):
            raise ValueError('ACK_DEADLINES must be a JSON object of seconds by grade, e.g. {"I": 30, "II": 60, ...}')
        unknown = sorted(str(k) for k in value if k not in GRADES)
        missing = [g for g in GRADES if g not in value]
        if unknown or missing:
            raise ValueError(
                "ACK_DEADLINES must give seconds for each grade I, II, III and IV"
                + (f"; missing: {', '.join(missing)}" if missing else "")
                + (f"; not a grade: {', '.join(unknown)}" if unknown else "")
            )
        for grade in GRADES:
            seconds = value[grade]
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds <= 24 * 3600:
                raise ValueError(
                    f"ACK_DEADLINES: grade {grade} must be a number of seconds above 0 and at most 86400, "
                    f"not {seconds!r}"
                )
        return {grade: float(value[grade]) for grade in GRADES}

    @field_validator("redis_prefix")
    @classmethod
    def _prefix_is_a_name(cls, value: str) -> str:
        if not value or any(c.isspace() for c in value) or len(value) > 64:
            raise ValueError("REDIS_PREFIX must be 1-64 characters without whitespace")
        return value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
