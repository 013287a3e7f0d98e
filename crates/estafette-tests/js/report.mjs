// Element Web's "Report content": matrix-js-sdk's reportEvent. Input: baseUrl, user,
// password, roomId, eventId, reason.
import { answer, client, input } from "./session.mjs";

let error = null;
try {
  await client.reportEvent(input.roomId, input.eventId, -100, input.reason);
} catch (e) {
  error = { status: e.httpStatus, errcode: e.errcode };
}
answer({ error });
