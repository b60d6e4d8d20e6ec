#!/usr/bin/python3
"""A real upstream SMTP server for hikyaku's integration tests.

Built on Debian's python3-aiosmtpd. It stands in for the smart host a relay
delivers to: STARTTLS or implicit TLS, AUTH (aiosmtpd's PLAIN and LOGIN plus
SCRAM-SHA-256 and CRAM-MD5 implemented here, because aiosmtpd has neither),
scripted refusals per recipient, and a maildir that tests poll.

Each accepted message is stored as DIR/N.eml with DIR/N.json beside it
(envelope, TLS and AUTH facts); the json is renamed into place first, then
the message, so a test that counts *.eml never sees half a delivery.
"Ready" handshake: the line "ready port=PORT" in --log once listening.

Run with /usr/bin/python3 (DESIGN section 12: the python3 on PATH may not
see Debian's aiosmtpd).
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import logging
import os
import secrets
import signal
import ssl
import sys
import time
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, auth_mechanism

SCRAM_ITERATIONS = 4096


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--hostname", default="upstream.test",
                   help="name in the banner and EHLO reply")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--require-tls", action="store_true",
                   help="refuse everything but EHLO/STARTTLS/QUIT before TLS")
    p.add_argument("--ssl", action="store_true",
                   help="implicit TLS (smtps) instead of STARTTLS")
    p.add_argument("--auth", metavar="USER:PASS",
                   help="require AUTH with these credentials")
    p.add_argument("--mechs",
                   help="comma-separated mechanisms to offer "
                        "(default: PLAIN,LOGIN,CRAM-MD5,SCRAM-SHA-256)")
    p.add_argument("--allow-plain-auth", action="store_true",
                   help="offer AUTH before TLS (tests of the client's refusal)")
    p.add_argument("--maildir", help="store accepted messages here")
    p.add_argument("--reply-rcpt", action="append", default=[],
                   metavar="ADDR=REPLY",
                   help="answer RCPT TO:<ADDR> with REPLY, e.g. "
                        "'u@x=550 5.1.1 no such user' (repeatable; ADDR '*' "
                        "matches every recipient)")
    p.add_argument("--reply-data", metavar="REPLY",
                   help="answer every DATA with REPLY instead of storing")
    p.add_argument("--fail-first", type=int, default=0, metavar="N",
                   help="greet the first N connections with 421 and close")
    p.add_argument("--reply-delay", type=float, default=0, metavar="SECONDS",
                   help="wait SECONDS before every reply (the banner "
                        "too; a multi-line reply waits once): a trickling "
                        "upstream that answers each command in time")
    p.add_argument("--data-delay", type=float, default=0, metavar="SECONDS",
                   help="wait SECONDS before answering the end of DATA "
                        "(slow deliveries, to see parallel connections)")
    p.add_argument("--require-client-cert", metavar="CAFILE",
                   help="TLS clients must present a certificate that CAFILE "
                        "signed; its subject is logged and stored as "
                        "client_cert in the json")
    p.add_argument("--log", help="log file (default stderr)")
    p.add_argument("--pidfile")
    args = p.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if (args.ssl or args.require_tls or args.require_client_cert) and \
            not args.tls_cert:
        p.error("--ssl, --require-tls and --require-client-cert need "
                "--tls-cert/--tls-key")
    args.user = args.password = None
    if args.auth:
        if ":" not in args.auth:
            p.error("--auth takes USER:PASS")
        args.user, args.password = args.auth.split(":", 1)
    args.rcpt_rules = {}
    for rule in args.reply_rcpt:
        addr, sep, reply = rule.partition("=")
        if not sep or not reply[:3].isdigit():
            p.error("--reply-rcpt takes ADDR=CODE TEXT: %r" % rule)
        args.rcpt_rules[addr.strip().lower()] = reply.strip()
    if args.reply_data and not args.reply_data[:3].isdigit():
        p.error("--reply-data takes CODE TEXT")
    return args


def b64(data):
    return base64.b64encode(data).decode("ascii")


def scram_unescape(name):
    return name.replace("=2C", ",").replace("=3D", "=")


class UpstreamSMTP(SMTP):
    """aiosmtpd's server plus the two mechanisms it lacks."""

    open_connections = 0

    def __init__(self, handler, opts, **kw):
        self.opts = opts
        self.counted = False
        super().__init__(handler, **kw)

    # "open N" lines let a test see how many connections ran at once.
    def connection_made(self, transport):
        if not self.counted:
            self.counted = True
            UpstreamSMTP.open_connections += 1
            log.info("open %d", UpstreamSMTP.open_connections)
        super().connection_made(transport)

    def connection_lost(self, error):
        if self.counted:
            self.counted = False
            UpstreamSMTP.open_connections -= 1
            log.info("open %d", UpstreamSMTP.open_connections)
        super().connection_lost(error)

    async def push(self, status):
        line = status if isinstance(status, str) else status.decode()
        # Continuation lines ("250-...") go out with the last one.
        if self.opts.reply_delay and line[3:4] != "-":
            await asyncio.sleep(self.opts.reply_delay)
        await super().push(status)

    def _check(self, mech, user, password):
        ok = (user == self.opts.user and password == self.opts.password)
        log.info("auth %s user=%s %s", mech, user, "ok" if ok else "failed")
        if ok:
            self.session.auth_mech = mech
            return AuthResult(success=True, auth_data=LoginPassword(
                user.encode(), password.encode()))
        return AuthResult(success=False, handled=False)

    @auth_mechanism("CRAM-MD5")
    async def auth_CRAM_MD5(self, _, args):
        if len(args) > 1:
            await self.push("501 5.7.0 CRAM-MD5 takes no initial response")
            return AuthResult(success=False, handled=True)
        challenge = "<%s.%d@%s>" % (secrets.token_hex(8), int(time.time()),
                                    self.opts.hostname)
        resp = await self.challenge_auth(challenge)
        if not isinstance(resp, bytes):
            return AuthResult(success=False, handled=True)
        user, _, digest = resp.decode("utf-8", "replace").rpartition(" ")
        want = hmac.new((self.opts.password or "").encode(),
                        challenge.encode(), hashlib.md5).hexdigest()
        ok = user == self.opts.user and hmac.compare_digest(digest, want)
        log.info("auth CRAM-MD5 user=%s %s", user, "ok" if ok else "failed")
        if ok:
            self.session.auth_mech = "CRAM-MD5"
            return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    @auth_mechanism("SCRAM-SHA-256")
    async def auth_SCRAM_SHA_256(self, _, args):
        # RFC 5802 / RFC 7677, server side, no channel binding.
        if len(args) > 1:
            first = b"" if args[1] == "=" else base64.b64decode(args[1])
        else:
            first = await self.challenge_auth("")
            if not isinstance(first, bytes):
                return AuthResult(success=False, handled=True)
        fail = AuthResult(success=False, handled=False)
        try:
            first = first.decode("utf-8")
            cbind, authzid, bare = first.split(",", 2)
            if cbind not in ("n", "y"):
                await self.push("535 5.7.8 channel binding not supported")
                return AuthResult(success=False, handled=True)
            attrs = dict(a.split("=", 1) for a in bare.split(","))
            user = scram_unescape(attrs["n"])
            cnonce = attrs["r"]
        except (ValueError, KeyError, UnicodeDecodeError):
            await self.push("501 5.5.2 malformed SCRAM client-first message")
            return AuthResult(success=False, handled=True)
        salt = os.urandom(16)
        nonce = cnonce + secrets.token_urlsafe(18)
        server_first = "r=%s,s=%s,i=%d" % (nonce, b64(salt), SCRAM_ITERATIONS)
        final = await self.challenge_auth(server_first)
        if not isinstance(final, bytes):
            return AuthResult(success=False, handled=True)
        try:
            final = final.decode("utf-8")
            without_proof, _, proof_attr = final.rpartition(",p=")
            fattrs = dict(a.split("=", 1) for a in without_proof.split(","))
            proof = base64.b64decode(proof_attr)
        except (ValueError, UnicodeDecodeError):
            await self.push("501 5.5.2 malformed SCRAM client-final message")
            return AuthResult(success=False, handled=True)
        gs2 = (cbind + "," + authzid + ",").encode()
        if fattrs.get("r") != nonce or base64.b64decode(
                fattrs.get("c", "")) != gs2:
            log.info("auth SCRAM-SHA-256 user=%s failed (nonce/binding)", user)
            return fail
        salted = hashlib.pbkdf2_hmac("sha256",
                                     (self.opts.password or "").encode(),
                                     salt, SCRAM_ITERATIONS)
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        auth_message = ",".join((bare, server_first, without_proof)).encode()
        client_sig = hmac.new(stored_key, auth_message,
                              hashlib.sha256).digest()
        if len(proof) != len(client_sig):
            return fail
        recovered = bytes(a ^ b for a, b in zip(proof, client_sig))
        ok = (user == self.opts.user and hmac.compare_digest(
            hashlib.sha256(recovered).digest(), stored_key))
        log.info("auth SCRAM-SHA-256 user=%s %s", user,
                 "ok" if ok else "failed")
        if not ok:
            return fail
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        server_sig = hmac.new(server_key, auth_message,
                              hashlib.sha256).digest()
        # SMTP has no "additional data with success": the server-final
        # message goes in a 334 and the client answers with an empty line.
        done = await self.challenge_auth("v=" + b64(server_sig))
        if not isinstance(done, bytes):
            return AuthResult(success=False, handled=True)
        self.session.auth_mech = "SCRAM-SHA-256"
        return AuthResult(success=True, auth_data=user)


class Handler:
    def __init__(self, opts):
        self.opts = opts
        self.seq = itertools.count(1)
        if opts.maildir:
            os.makedirs(os.path.join(opts.maildir, "tmp"), exist_ok=True)

    async def handle_RCPT(self, server, session, envelope, address, options):
        rules = self.opts.rcpt_rules
        reply = rules.get(address.lower(), rules.get("*"))
        log.info("rcpt <%s> %s", address, reply or "250 accepted")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.opts.data_delay:
            await asyncio.sleep(self.opts.data_delay)
        if self.opts.reply_data:
            log.info("data from=<%s> rejected: %s", envelope.mail_from,
                     self.opts.reply_data)
            return self.opts.reply_data
        n = "%d-%06d" % (os.getpid(), next(self.seq))
        # aiosmtpd keeps the null sender as "<>"; the sidecar says "".
        sender = "" if envelope.mail_from == "<>" else envelope.mail_from
        meta = {
            "mail_from": sender,
            "rcpt_tos": envelope.rcpt_tos,
            "mail_options": envelope.mail_options,
            "tls": bool(server._tls_protocol) or self.opts.ssl,
            "auth_mech": getattr(session, "auth_mech", None),
            "helo": session.host_name,
            "peer": list(session.peer)[:2] if session.peer else None,
            "size": len(envelope.original_content or b""),
            "client_cert": client_cert_subject(server),
        }
        if meta["client_cert"]:
            log.info("client certificate subject=%s", meta["client_cert"])
        if self.opts.maildir:
            self._store(n, meta, envelope.original_content or b"")
        log.info("message %s from=<%s> to=%s size=%d tls=%s auth=%s", n,
                 sender, ",".join(envelope.rcpt_tos), meta["size"],
                 meta["tls"], meta["auth_mech"])
        return "250 2.0.0 Ok: queued as %s" % n

    def _store(self, n, meta, content):
        d = self.opts.maildir
        for ext, data in ((".json", json.dumps(meta, indent=1).encode()),
                          (".eml", content)):
            tmp = os.path.join(d, "tmp", n + ext)
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, os.path.join(d, n + ext))


class Refuse(asyncio.Protocol):
    """Greets with 421 and hangs up: a remote that is up but refusing."""

    def connection_made(self, transport):
        transport.write(b"421 4.3.2 upstream.test busy, try later\r\n")
        transport.close()


def tls_context(opts):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(opts.tls_cert, opts.tls_key)
    if opts.require_client_cert:
        # A handshake without a certificate from this CA fails.
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(opts.require_client_cert)
    return ctx


def client_cert_subject(server):
    """The verified client certificate's subject ("CN=x,O=y"), or None."""
    transport = getattr(server, "transport", None)
    cert = transport.get_extra_info("peercert") if transport else None
    if not cert:
        return None
    return ",".join("%s=%s" % (k, v) for rdn in cert.get("subject", ())
                    for k, v in rdn)


async def serve(opts):
    loop = asyncio.get_running_loop()
    handler = Handler(opts)
    ctx = tls_context(opts) if opts.tls_cert else None
    mechs = None
    if opts.mechs:
        mechs = {m.strip().upper() for m in opts.mechs.split(",")}
    all_mechs = {"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"}
    unknown = (mechs or set()) - all_mechs
    if unknown:
        sys.exit("upstream.py: unknown mechanism(s): " + ",".join(unknown))
    kw = dict(
        hostname=opts.hostname,
        ident="upstream.py",
        tls_context=None if opts.ssl else ctx,
        require_starttls=bool(opts.require_tls and not opts.ssl),
        auth_required=bool(opts.auth),
        auth_require_tls=bool(ctx) and not opts.ssl
        and not opts.allow_plain_auth,
        auth_exclude_mechanism=sorted(all_mechs - mechs) if mechs else None,
        enable_SMTPUTF8=True,
        decode_data=False,
    )

    def authenticator(server, session, envelope, mechanism, data):
        user = data.login.decode("utf-8", "replace")
        password = data.password.decode("utf-8", "replace")
        return server._check(mechanism, user, password)

    if opts.auth:
        kw["authenticator"] = authenticator
    connections = itertools.count(1)

    def factory():
        n = next(connections)
        if n <= opts.fail_first:
            log.info("connection %d refused with 421 (--fail-first)", n)
            return Refuse()
        log.info("connection %d", n)
        return UpstreamSMTP(handler, opts, **kw)

    server = await loop.create_server(
        factory, host=opts.host, port=opts.port,
        ssl=ctx if opts.ssl else None, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("ready port=%d tls=%s ssl=%s auth=%s", opts.port,
             bool(ctx), opts.ssl, bool(opts.auth))
    await stop.wait()
    server.close()
    await server.wait_closed()


def main(argv):
    opts = parse_args(argv)
    # --ssl with AUTH is TLS all the same; aiosmtpd cannot tell and warns.
    warnings.filterwarnings("ignore", category=UserWarning, module="aiosmtpd")
    if opts.pidfile:
        with open(opts.pidfile + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(opts.pidfile + ".tmp", opts.pidfile)
    handler = (logging.FileHandler(opts.log) if opts.log
               else logging.StreamHandler())
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # aiosmtpd's own lines (peers, commands) help when a test fails.
    logging.getLogger("mail.log").setLevel(logging.INFO)
    asyncio.run(serve(opts))


log = logging.getLogger("upstream")

if __name__ == "__main__":
    main(sys.argv[1:])
