// Drives a homeserver with matrix-js-sdk the way Element Web does for room tags, push rules,
// server-side search (with back-pagination), jumping to a date and mutual rooms. Input (JSON
// in INPUT): baseUrl, user, password, roomId, otherUserId, term, ts. Prints one JSON line.
const sdk = await import(process.env.MATRIX_JS_SDK);
const input = JSON.parse(process.env.INPUT);
const silent = { trace() {}, debug() {}, info() {}, log() {}, warn() {}, error() {} };

const anonymous = sdk.createClient({ baseUrl: input.baseUrl, logger: silent });
const login = await anonymous.loginRequest({
  type: "m.login.password",
  identifier: { type: "m.id.user", user: input.user },
  password: input.password,
});
const client = sdk.createClient({
  baseUrl: input.baseUrl,
  accessToken: login.access_token,
  userId: login.user_id,
  deviceId: login.device_id,
  logger: silent,
});

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

console.log(JSON.stringify(out));
// A long-poll may still be open: the answer is given, stop here.
process.exit(0);
