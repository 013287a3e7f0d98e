// Element Web with its homeserver as identity server: an identity service token obtained with
// an OpenID token, the terms, and the hashed lookups of the invite dialog (the SDK hashes the
// addresses itself, with the pepper the server gives).
import { answer, client, input, login, sdk } from "./session.mjs";

const withIdentity = sdk.createClient({
  baseUrl: input.baseUrl,
  idBaseUrl: input.baseUrl,
  accessToken: login.access_token,
  userId: login.user_id,
  deviceId: login.device_id,
});
const openId = await client.getOpenIdToken();
const { token } = await withIdentity.registerWithIdentityServer(openId);
const account = await withIdentity.getIdentityAccount(token);
const terms = await withIdentity.getTerms(sdk.SERVICE_TYPES.IS, input.baseUrl);
const found = await withIdentity.identityHashedLookup(
  input.addresses.map((address) => [address, "email"]),
  token,
);
const single = await withIdentity.lookupThreePid("email", input.addresses[0], token);
answer({ account: account.user_id, policies: terms.policies, found, single });
