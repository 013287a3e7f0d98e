// A minimal bridge on bot-sdk's Appservice (npm `@vector-im/matrix-bot-sdk`, what hookshot and
// matrix-appservice-bridge build on), run by the tests against Estafette: it listens for
// transactions, checks who it is, registers a ghost, joins the ghost to the rooms it is invited
// to and answers every message of a person with "echo: <body>" as the ghost. What it sees goes
// to a JSON-lines file; it prints one JSON line once ready.
import { appendFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const input = JSON.parse(process.env.INPUT);
// bot-sdk is installed beside matrix-js-sdk (scripts/js-sdk).
const modules = path.resolve(path.dirname(process.env.MATRIX_JS_SDK), "../..");
const require = createRequire(path.join(modules, "resolve.js"));
const { Appservice, MemoryStorageProvider, LogService, LogLevel } = require(
  "@vector-im/matrix-bot-sdk",
);
LogService.setLevel(LogLevel.ERROR);

const record = (line) => appendFileSync(input.out, JSON.stringify(line) + "\n");

const appservice = new Appservice({
  port: input.port,
  bindAddress: "127.0.0.1",
  homeserverName: input.domain,
  homeserverUrl: input.homeserver,
  registration: {
    id: input.id,
    as_token: input.as_token,
    hs_token: input.hs_token,
    url: `http://127.0.0.1:${input.port}`,
    sender_localpart: input.bot,
    namespaces: {
      users: [{ exclusive: true, regex: input.users_regex }],
      aliases: [],
      rooms: [],
    },
    rate_limited: false,
    "de.sorunome.msc2409.push_ephemeral": true,
  },
  storage: new MemoryStorageProvider(),
});
const ghost = appservice.getIntentForUserId(`@${input.ghost}:${input.domain}`);

appservice.on("room.invite", async (roomId, event) => {
  if (event.state_key !== ghost.userId) return;
  await ghost.joinRoom(roomId);
  record({ kind: "joined", room_id: roomId });
});
appservice.on("room.message", async (roomId, event) => {
  if (event.sender === ghost.userId || event.sender === appservice.botUserId) return;
  await ghost.sendText(roomId, `echo: ${event.content.body}`);
  record({ kind: "echoed", body: event.content.body });
});
appservice.on("ephemeral.event", (event) => {
  if (event.type === "m.typing") {
    record({ kind: "typing", room_id: event.room_id, user_ids: event.content.user_ids });
  }
});

await appservice.begin();
const whoami = await appservice.botClient.getWhoAmI();
await ghost.ensureRegistered();
await ghost.underlyingClient.setDisplayName("Echo (bot-sdk)");
record({ kind: "ready", bot: whoami.user_id });
console.log(JSON.stringify({ ready: true }));
