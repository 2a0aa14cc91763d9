"""An HTTP/2 (h2c, prior knowledge) client for http_server_test, built on python's h2.

usage: h2_client.py PORT MODE
  echo          POST /echo, sends three body lines one at a time and prints each response line
                as it arrives (each is read before the next is sent), then the status
  reset         starts POST /poll, resets the stream once its response head arrives, then
                GETs /hello on the same connection and prints its body
  goaway        starts GET /poll, says GOAWAY, prints "sent goaway", then "closed" when the
                server closes
  server-goaway starts GET /poll, prints "waiting", then the server's GOAWAY error code and
                "closed"
  big-header    GET / with an 8 KB header, prints the status
  idle          GETs /hello and prints its body, then waits on the open connection for the
                server's GOAWAY and prints its error code, then "closed"
Every socket read has a 10 s timeout, so a silent server ends the script with an error.
"""

import socket
import sys

import h2.config
import h2.connection
import h2.events


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        self.closed = False
        self.pending = []
        self.conn.initiate_connection()
        self.flush()

    def flush(self):
        try:
            self.sock.sendall(self.conn.data_to_send())
        except (BrokenPipeError, ConnectionResetError):
            # The server may close right after its GOAWAY, before our SETTINGS ack goes out.
            self.closed = True

    def request(self, method, path, end_stream, extra=()):
        stream_id = self.conn.get_next_available_stream_id()
        headers = [(":method", method), (":path", path), (":scheme", "http"),
                   (":authority", "test")] + list(extra)
        self.conn.send_headers(stream_id, headers, end_stream=end_stream)
        self.flush()
        return stream_id

    def events(self):
        """The events of one read (none once the server has closed)."""
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            return []
        events = self.conn.receive_data(data)
        for event in events:
            if isinstance(event, h2.events.DataReceived):
                self.conn.acknowledge_received_data(event.flow_controlled_length,
                                                    event.stream_id)
        self.flush()
        return events

    def until(self, predicate):
        """Reads until an event matches; the events after it in the same read are kept."""
        while True:
            while self.pending:
                event = self.pending.pop(0)
                if predicate(event):
                    return event
            if self.closed:
                raise SystemExit("connection closed")
            self.pending = self.events()


def status_of(event):
    return dict(event.headers)[":status"]


def echo(client):
    stream_id = client.request("POST", "/echo", end_stream=False)
    body = b""
    status = None
    for i in range(3):
        client.conn.send_data(stream_id, ("line %d\n" % i).encode())
        client.flush()
        while b"\n" not in body:
            event = client.until(lambda e: isinstance(e, (h2.events.ResponseReceived,
                                                          h2.events.DataReceived)))
            if isinstance(event, h2.events.ResponseReceived):
                status = status_of(event)
            else:
                body += event.data
        line, body = body.split(b"\n", 1)
        print(line.decode(), flush=True)
    client.conn.end_stream(stream_id)
    client.flush()
    client.until(lambda e: isinstance(e, h2.events.StreamEnded))
    print("status", status)


def body_of(client, stream_id):
    """Reads the stream's response body until the stream ends."""
    body = b""
    while True:
        event = client.until(lambda e: isinstance(e, (h2.events.DataReceived,
                                                      h2.events.StreamEnded)))
        if isinstance(event, h2.events.StreamEnded) and event.stream_id == stream_id:
            return body.decode()
        if isinstance(event, h2.events.DataReceived):
            body += event.data


def reset(client):
    stream_id = client.request("POST", "/poll", end_stream=False)
    client.until(lambda e: isinstance(e, h2.events.ResponseReceived))
    client.conn.reset_stream(stream_id)
    client.flush()
    hello = client.request("GET", "/hello", end_stream=True)
    print(body_of(client, hello))


def goaway(client):
    client.request("GET", "/poll", end_stream=True)
    client.conn.close_connection()
    client.flush()
    print("sent goaway", flush=True)
    # h2 refuses frames after its own GOAWAY, so the rest is read as bytes.
    while client.sock.recv(65536):
        pass
    print("closed")


def server_goaway(client):
    client.request("GET", "/poll", end_stream=True)
    print("waiting", flush=True)
    event = client.until(lambda e: isinstance(e, h2.events.ConnectionTerminated))
    print("goaway", int(event.error_code), flush=True)
    while not client.closed:
        client.events()
    print("closed")


def idle(client):
    hello = client.request("GET", "/hello", end_stream=True)
    print(body_of(client, hello), flush=True)
    event = client.until(lambda e: isinstance(e, h2.events.ConnectionTerminated))
    print("goaway", int(event.error_code), flush=True)
    while not client.closed:
        client.events()
    print("closed")


def big_header(client):
    client.request("GET", "/", end_stream=True, extra=[("x-big", "a" * 8192)])
    event = client.until(lambda e: isinstance(e, h2.events.ResponseReceived))
    print(status_of(event))


MODES = {"echo": echo, "reset": reset, "goaway": goaway, "server-goaway": server_goaway,
         "big-header": big_header, "idle": idle}

if __name__ == "__main__":
    MODES[sys.argv[2]](Client(int(sys.argv[1])))
