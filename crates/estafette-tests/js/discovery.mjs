// Element Web's first step on a server: its well-known document, validated by the SDK (the
// homeserver's /versions, the identity service's /_matrix/identity/v2). Input: baseUrl.
import { answer, input, sdk } from "./base.mjs";

const wellKnown = await (await fetch(`${input.baseUrl}/.well-known/matrix/client`)).json();
const config = await sdk.AutoDiscovery.fromDiscoveryConfig(wellKnown);
answer({
  homeserver: config["m.homeserver"],
  identityServer: config["m.identity_server"],
});
