"""The web console: an aiohttp server inside `play` and the page it serves (app/web/static).

`server.WebServer` runs on its own thread and event loop and knows nothing of the player: it
is given the show's description, the newest state (`publish`) and a sink for actions.
`console.WebConsole` binds it to a running player on the main thread.
"""
