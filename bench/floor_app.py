"""The least a ``POST /events`` can cost on AgentLens's stack: Flask under the same
gunicorn worker, reading the body and answering, nothing parsed or stored.

``bench/ingest.py --floor`` loads it beside AgentLens: what a server built on Flask
and gunicorn spends on a request before doing any of its own work.
"""
from flask import Flask, request

app = Flask(__name__)


@app.post("/events")
def events():
    # What the client checks ("processed" = the batch size), counted without parsing.
    return {"status": "ok", "processed": request.get_data().count(b'"event_type"')}
