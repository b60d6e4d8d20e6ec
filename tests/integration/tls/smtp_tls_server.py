"""A tiny SMTP responder for the TLS diagnosis tests (one client at a time).

Modes: starttls (greeting, EHLO offering STARTTLS, then TLS), ssl (TLS at
once, then the greeting), plain (SMTP without STARTTLS: a plaintext port
that --ssl must not be pointed at), nostarttls (same, named for clarity),
hangup (reads what the client sends first and closes without a word: a
port that is not implicit TLS and drops a client that speaks first).
It binds 127.0.0.1 port 0 and writes the port to --portfile once
listening, so tests wait for that file instead of sleeping.
"""
import argparse
import email.utils
import os
import socket
import ssl
import sys
import warnings


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", required=True,
                    choices=["starttls", "ssl", "plain", "nostarttls",
                             "hangup"])
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--portfile", required=True)
    ap.add_argument("--banner-date",
                    help="RFC 5322 date to put in the greeting")
    ap.add_argument("--old-tls", action="store_true",
                    help="speak only TLS 1.0 and 1.1 (an outdated server)")
    a = ap.parse_args()

    ctx = None
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # Weak test certificates (RSA-1024, SHA-1) must load: the point
        # is that the client notices them.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.load_cert_chain(a.cert, a.key)
        if a.old_tls:
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1

    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    tmp = a.portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(tmp, a.portfile)

    date = a.banner_date or email.utils.formatdate(usegmt=False)
    greeting = "220 localhost ESMTP tls-test; %s\r\n" % date
    while True:
        conn, _ = ls.accept()
        conn.settimeout(20)
        try:
            serve(conn, a.mode, ctx, greeting)
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass


def serve(conn, mode, ctx, greeting):
    if mode == "hangup":
        conn.recv(4096)
        return
    if mode == "ssl":
        conn = ctx.wrap_socket(conn, server_side=True)
    f = conn.makefile("rb")
    conn.sendall(greeting.encode())
    while True:
        line = f.readline()
        if not line:
            return
        cmd = line.strip().upper()
        if cmd.startswith(b"EHLO"):
            exts = ["localhost", "PIPELINING", "SIZE 10240000"]
            if mode == "starttls":
                exts.append("STARTTLS")
            reply = "".join("250-%s\r\n" % e for e in exts[:-1])
            conn.sendall((reply + "250 %s\r\n" % exts[-1]).encode())
        elif cmd == b"STARTTLS" and mode == "starttls":
            conn.sendall(b"220 2.0.0 ready to start TLS\r\n")
            tls = ctx.wrap_socket(conn, server_side=True)
            tf = tls.makefile("rb")
            while True:
                l2 = tf.readline()
                if not l2 or l2.strip().upper() == b"QUIT":
                    tls.sendall(b"221 bye\r\n") if l2 else None
                    return
                tls.sendall(b"250 ok\r\n")
        elif cmd == b"QUIT":
            conn.sendall(b"221 bye\r\n")
            return
        else:
            conn.sendall(b"502 5.5.1 not here\r\n")


if __name__ == "__main__":
    sys.exit(main())
