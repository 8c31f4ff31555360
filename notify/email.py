"""Email over SMTP: plain text and HTML in one message, headers encoded for any language (a Chinese subject goes
as an RFC 2047 encoded word). aiosmtplib is imported here, on the first email: only the process that sends mail
loads it (tests/test_lean_worker.py)."""

from __future__ import annotations

import html
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from notify.channels import Outgoing, SendFailed


def message(outgoing: Outgoing, *, sender: str) -> EmailMessage:
    """The email of a delivery: its subject, its text as plain text and as HTML, and its id in a header."""
    mail = EmailMessage(policy=SMTP)
    mail["From"] = sender
    mail["To"] = outgoing.address
    mail["Subject"] = outgoing.subject
    mail["Date"] = format_datetime(outgoing.at)
    mail["Message-ID"] = make_msgid(idstring=f"delivery-{outgoing.id}", domain="commandpost")
    mail["X-Commandpost-Delivery"] = str(outgoing.id)
    mail.set_content(outgoing.body)
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in outgoing.body.split("\n") if p.strip())
    mail.add_alternative(
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(outgoing.subject)}</title></head>'
        f"<body><h1>{html.escape(outgoing.subject)}</h1>{paragraphs}</body></html>",
        subtype="html",
    )
    return mail


class Email:
    """Sends through one SMTP server. A recipient the server refuses with a 5xx reply is dead at once (it will not
    take it later); 4xx replies and connection failures are tried again."""

    def __init__(
        self,
        *,
        host: str | None,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        tls: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.starttls = starttls
        self.tls = tls
        self.timeout_s = timeout_s

    async def send(self, outgoing: Outgoing) -> None:
        if not self.host:
            raise SendFailed("no SMTP server is configured (COMMANDPOST_SMTP_HOST)", permanent=True)
        import aiosmtplib  # on first use: a web worker never loads it

        try:
            await aiosmtplib.send(
                message(outgoing, sender=self.sender),
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.tls,
                start_tls=self.starttls,
                timeout=self.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            reasons = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            raise SendFailed(f"recipient refused: {reasons}", permanent=all(c >= 500 for c in codes)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise SendFailed(f"SMTP {exc.code}: {exc.message}", permanent=exc.code >= 500) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise SendFailed(f"{type(exc).__name__}: {exc}") from exc
