// Element Call's membership through matrix-js-sdk (MSC4140): join a call, schedule the leave
// for when the client stops answering, restart it once, and send a delayed message at once.
// Input: baseUrl, user, password, roomId, stateKey.
import { answer, client, input } from "./session.mjs";

const MEMBER = "org.matrix.msc3401.call.member";
const call = {
  application: "m.call", call_id: "", device_id: "WEB", scope: "m.room",
  focus_active: { type: "livekit" },
};
const out = {};
try {
  await client.sendStateEvent(input.roomId, MEMBER, call, input.stateKey);
  const leave = await client._unstable_sendDelayedStateEvent(
    input.roomId, { delay: 10000 }, MEMBER, {}, input.stateKey);
  out.leaveDelayId = leave.delay_id;
  await client._unstable_updateDelayedEvent(leave.delay_id, "restart");
  const later = await client._unstable_sendDelayedEvent(
    input.roomId, { delay: 60000 }, null, "m.room.message",
    { msgtype: "m.text", body: "from the web, sent early" });
  out.listed = (await client._unstable_getDelayedEvents()).delayed_events;
  await client._unstable_updateDelayedEvent(later.delay_id, "send");
} catch (e) {
  out.error = { status: e.httpStatus, errcode: e.errcode, message: String(e) };
}
answer(out);
