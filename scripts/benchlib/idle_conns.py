#!/usr/bin/env python3
"""Open N idle keep-alive connections to a server and hold them (scripts/bench).

Each connection does one full TLS handshake (none with --plain), one GET with keep-alive (over
HTTP/2 with --h2: ALPN h2, one stream) and reads the whole response, so the server holds the
state of a real idle keep-alive client. Then it prints "READY <ok> <failed>" and holds every
connection open until a line arrives on stdin (or --hold seconds pass), closes them all and exits.

scripts/bench reads the server's memory before the connections and between READY and the
release line: the growth divided by the connections is the memory per idle connection.
"""
import argparse
import asyncio
import os
import ssl
import sys


async def get_http1(args, reader, writer):
    req = (f"GET {args.path} HTTP/1.1\r\nHost: localhost\r\n"
           "Connection: keep-alive\r\n\r\n").encode()
    writer.write(req)
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=20)
    status = head.split(b" ", 2)[1]
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await asyncio.wait_for(reader.readexactly(length), timeout=20)
    return status


async def get_h2(args, reader, writer):
    import h2.config
    import h2.connection
    import h2.events
    if writer.get_extra_info("ssl_object").selected_alpn_protocol() != "h2":
        raise RuntimeError("the server did not negotiate h2")
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "GET"), (":path", args.path), (":scheme", "https"),
                          (":authority", "localhost")], end_stream=True)
    writer.write(conn.data_to_send())
    await writer.drain()
    status = None
    while True:
        data = await asyncio.wait_for(reader.read(65536), timeout=20)
        if not data:
            raise RuntimeError("connection closed before the response ended")
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                status = dict(ev.headers).get(b":status")
            elif isinstance(ev, h2.events.DataReceived):
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                writer.write(conn.data_to_send())
                await writer.drain()
                return status
        writer.write(conn.data_to_send())
        await writer.drain()


async def open_one(args, ctx, sem, conns):
    async with sem:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(args.host, args.port, ssl=ctx,
                                        server_hostname="localhost" if ctx else None),
                timeout=20)
            status = await (get_h2 if args.h2 else get_http1)(args, reader, writer)
            if status != b"200":
                raise RuntimeError(f"status {status!r}")
            conns.append(writer)
            return True
        except Exception as e:  # noqa: BLE001 - report and count every failure
            print(f"idle_conns: connection failed: {e!r}", file=sys.stderr)
            return False


async def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/1k.bin")
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--plain", action="store_true", help="plain HTTP, no TLS")
    ap.add_argument("--h2", action="store_true", help="HTTP/2 over TLS (ALPN h2)")
    ap.add_argument("--tls12", action="store_true", help="offer TLS 1.2 only")
    ap.add_argument("--hold", type=float, default=120, help="max seconds to hold")
    args = ap.parse_args()

    ctx = None
    if not args.plain:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if args.tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(["h2"] if args.h2 else ["http/1.1"])
        # Never resume: every connection pays a full handshake, like a new client.
        ctx.options |= ssl.OP_NO_TICKET

    sem = asyncio.Semaphore(args.concurrency)
    conns = []
    results = await asyncio.gather(*(open_one(args, ctx, sem, conns) for _ in range(args.n)))
    ok = sum(results)
    print(f"READY {ok} {args.n - ok}", flush=True)

    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), timeout=args.hold)
    except asyncio.TimeoutError:
        pass
    for w in conns:
        w.transport.abort()
    print("CLOSED", flush=True)


if __name__ == "__main__":
    # Each connection needs a descriptor.
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass
    asyncio.run(main())
    os._exit(0)
