// Element Web's client loop: matrix-js-sdk's startClient against a homeserver (initial sync
// with lazy-loaded members, the long-polling loop), as Alice; Bob (raw HTTP by the Rust test)
// is in the room. Input: baseUrl, user, password, roomId.
import { answer, client, login, sdk, input } from "./session.mjs";

const withTimeout = (promise, ms, what) =>
  Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)),
  ]);

const prepared = new Promise((resolve, reject) => {
  client.on(sdk.ClientEvent.Sync, (state, _prev, data) => {
    if (state === "PREPARED") resolve();
    if (state === "ERROR") reject(data?.error ?? new Error("sync error"));
  });
});
await client.startClient({ initialSyncLimit: 5, lazyLoadMembers: true });
await withTimeout(prepared, 15000, "the first sync");

const out = {};
const room = client.getRoom(input.roomId);
out.name = room?.name;
out.initialTimeline = room.getLiveTimeline().getEvents()
  .filter((e) => e.getType() === "m.room.message").map((e) => e.getContent().body);

// Older history through the SDK's own pagination.
await client.scrollback(room, 30);
out.afterScrollback = room.getLiveTimeline().getEvents()
  .filter((e) => e.getType() === "m.room.message").map((e) => e.getContent().body);

// A message sent now comes back through the running sync loop.
const echoed = new Promise((resolve) => {
  client.on(sdk.RoomEvent.Timeline, (event) => {
    if (event.getType() === "m.room.message" && event.getContent().body === "depuis js") {
      resolve(event);
    }
  });
});
const sent = await client.sendTextMessage(input.roomId, "depuis js");
const echo = await withTimeout(echoed, 10000, "the echo of the sent message");
out.echoMatches = echo.getId() === sent.event_id;

// Receipts and typing both ways through the SDK's calls.
await client.sendReadReceipt(echo);
await client.sendTyping(input.roomId, true, 10000);
await client.setDisplayName("Alice JS");
const member = await withTimeout(
  new Promise((resolve) => {
    const check = () => {
      const me = room.getMember(login.user_id);
      if (me?.name === "Alice JS") resolve(me.name);
    };
    client.on(sdk.RoomMemberEvent.Name, check);
    check();
  }),
  10000,
  "the new display name",
);
out.displayName = member;
out.members = room.getJoinedMembers().map((m) => m.userId).sort();

client.stopClient();
answer(out);
