// What Element Web asks before a call: the TURN servers (the SDK refreshes them before they
// expire). Node has no WebRTC, so the SDK is told it may call, as a browser is. Input:
// baseUrl, user, password.
import { answer, client } from "./session.mjs";

client.canSupportVoip = true;
const fetched = await client.checkTurnServers();
answer({
  fetched,
  servers: client.getTurnServers(),
  expiresIn: client.getTurnServersExpiry() - Date.now(),
});
