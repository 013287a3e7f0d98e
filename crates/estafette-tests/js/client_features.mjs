// Drives a homeserver with matrix-js-sdk the way Element Web does for room tags, push rules,
// server-side search (with back-pagination), jumping to a date and mutual rooms. Input:
// baseUrl, user, password, roomId, otherUserId, term, ts.
import { answer, client, input } from "./session.mjs";

const out = {};

await client.setRoomTag(input.roomId, "m.favourite", { order: 0.5 });
await client.setRoomTag(input.roomId, "u.sdk", {});
await client.deleteRoomTag(input.roomId, "u.sdk");
out.tags = (await client.getRoomTags(input.roomId)).tags;

const rules = await client.getPushRules();
out.ruleKinds = Object.keys(rules.global).sort();
out.masterRule = rules.global.override.some((r) => r.rule_id === ".m.rule.master");

// One result a page, then the SDK's own back-pagination until the end.
let results = await client.searchRoomEvents({ term: input.term, filter: { limit: 1 } });
out.searchCount = results.count;
while (results.next_batch) {
  results = await client.backPaginateRoomEventsSearch(results);
}
out.searchBodies = results.results.map((r) => r.context.getEvent().getContent().body);
out.searchContextSizes = results.results.map((r) => r.context.getTimeline().length);
out.highlights = results.highlights;

const jumped = await client.timestampToEvent(input.roomId, input.ts, "f");
out.jumped = jumped.event_id;

out.shared = await client._unstable_getSharedRooms(input.otherUserId);

answer(out);
