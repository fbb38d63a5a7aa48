"""Real HTTP servers on loopback for the browser tests: the site under test on 127.0.0.1 and
an "internal" server on 127.0.0.2 that pages must never reach (it records every hit)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Site:
    def __init__(self, host: str, pages: dict[str, tuple[int, str, str]] | None = None) -> None:
        self.hits: list[str] = []
        self.pages = pages or {}
        self.delay: dict[str, float] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hits.append(self.path)
                time.sleep(site.delay.get(self.path, 0))
                status, media_type, body = site.pages.get(
                    self.path, (404, "text/plain", "not here")
                )
                data = body.encode()
                self.send_response(status)
                if status in (301, 302):
                    self.send_header("Location", body)
                self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def site_pages(internal: str) -> dict[str, tuple[int, str, str]]:
    html = "text/html; charset=utf-8"
    return {
        "/": (
            200,
            html,
            "<html><head><title>Shop</title></head><body><h1>Prices</h1>"
            '<ul><li class="p" data-sku="a1">Tea 3.50</li><li class="p" data-sku="b2">Coffee 4.00'
            '</li></ul><a id="next" href="/form">form</a></body></html>',
        ),
        "/moved": (302, "text/plain", "/"),
        # The price only exists once the page's script has fetched it.
        "/js": (
            200,
            html,
            "<html><head><title>Live</title></head><body><div id='price'>loading</div>"
            "<script>setTimeout(() => fetch('/price.json').then(r => r.json()).then(d => {"
            "const el = document.createElement('span'); el.id = 'live'; el.textContent = d.price;"
            "document.body.appendChild(el);}), 150)</script></body></html>",
        ),
        "/price.json": (200, "application/json", '{"price": "42.00"}'),
        # Asks the internal server for an image and data: both must be refused.
        "/private": (
            200,
            html,
            f"<html><head><title>Sneaky</title></head><body><p id='t'>hello</p>"
            f"<img src='{internal}/pixel.png'>"
            f"<script>fetch('{internal}/secrets').catch(() => {{"
            "document.getElementById('t').textContent = 'refused';})</script></body></html>",
        ),
        "/slow": (200, html, "<html><body>finally</body></html>"),
        "/form": (
            200,
            html,
            "<html><head><title>Form</title></head><body><input id='name'>"
            "<button id='go' onclick=\"document.getElementById('out').textContent = "
            "'Hello ' + document.getElementById('name').value\">Go</button>"
            "<p id='out'></p></body></html>",
        ),
    }
