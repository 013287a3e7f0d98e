"""A minimal bridge on mautrix-python's AppService (PyPI `mautrix`), run by the tests against
Estafette: it registers its bot and a ghost, pings itself through the homeserver, joins the
ghost to rooms it is invited to, and answers every message of a person with
"echo: <body>" as the ghost, at a massaged timestamp. What it sees goes to a JSON-lines file.

Usage: mautrix_echo_bridge.py '<json config>'
"""

import asyncio
import json
import sys

from mautrix.appservice import AppService
from mautrix.appservice.state_store import ASStateStore
from mautrix.client.state_store.memory import MemoryStateStore
from mautrix.types import EventType, Membership, UserID


class MemoryASStateStore(ASStateStore, MemoryStateStore):
    def __init__(self) -> None:
        ASStateStore.__init__(self)
        MemoryStateStore.__init__(self)


async def main() -> None:
    cfg = json.loads(sys.argv[1])
    out = open(cfg["out"], "a", buffering=1)

    def record(kind: str, **data) -> None:
        out.write(json.dumps({"kind": kind, **data}) + "\n")

    az = AppService(
        server=cfg["homeserver"],
        domain=cfg["domain"],
        as_token=cfg["as_token"],
        hs_token=cfg["hs_token"],
        bot_localpart=cfg["bot"],
        id=cfg["id"],
        ephemeral_events=True,
        state_store=MemoryASStateStore(),
    )
    ghost = UserID(f"@{cfg['ghost']}:{cfg['domain']}")

    @az.matrix_event_handler
    async def on_event(evt) -> None:
        kind = str(evt.type.t if hasattr(evt.type, "t") else evt.type)
        if kind == "m.typing":
            record("typing", room_id=evt.room_id, user_ids=list(evt.content.user_ids))
            return
        if kind == "m.receipt":
            record("receipt", room_id=evt.room_id)
            return
        record("event", type=kind, sender=evt.sender, room_id=evt.room_id,
               state_key=getattr(evt, "state_key", None))
        if evt.type == EventType.ROOM_MEMBER and evt.state_key == ghost \
                and evt.content.membership == Membership.INVITE:
            await az.intent.user(ghost).join_room(evt.room_id)
            record("joined", room_id=evt.room_id)
        elif evt.type == EventType.ROOM_MESSAGE and evt.sender != ghost \
                and evt.sender != az.bot_mxid:
            body = evt.content.body
            await az.intent.user(ghost).send_message_event(
                evt.room_id, EventType.ROOM_MESSAGE,
                {"msgtype": "m.text", "body": f"echo: {body}"},
                timestamp=cfg["ts"],
            )
            record("echoed", body=body)

    await az.start("127.0.0.1", cfg["port"])
    await az.intent.ensure_registered()
    await az.intent.user(ghost).ensure_registered()
    await az.intent.user(ghost).set_displayname("Echo (bridge)")
    duration = await az.ping_self()
    record("ready", ping_ms=duration)
    await asyncio.Event().wait()


asyncio.run(main())
