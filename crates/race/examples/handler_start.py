"""Server-measured spread for any ASGI service (FastAPI, Starlette, Quart...): an ASGI
middleware that sets ``x-raceproof-handler-start-ns`` on every response, the instant (Unix
time, nanoseconds) the request was in the app's hands whole: when the app had read the last
chunk of its body, or, for an app that never reads the body (a route that takes no body, or a
request without one), when the server called the app. raceproof-race reads the header and
reports the spread of a burst as the server saw it (``measured by: server``) instead of at the
client, where it mostly measures the service's processing time.

    from handler_start import HandlerStart
    app.add_middleware(HandlerStart)        # FastAPI / Starlette
    app = HandlerStart(app)                 # any other ASGI app

Add it only where the tester runs: the header tells whoever reads it when your handlers run.
"""

import time

HEADER = b"x-raceproof-handler-start-ns"


class HandlerStart:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        called = time.time_ns()
        body_done = None

        async def receiving():
            nonlocal body_done
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                body_done = time.time_ns()
            return message

        async def sending(message):
            if message["type"] == "http.response.start":
                started = body_done if body_done is not None else called
                headers = list(message.get("headers", []))
                headers.append((HEADER, str(started).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receiving, sending)
