// Element Web with its homeserver as identity server: an identity service token obtained with
// an OpenID token, the terms, the hashed lookups of the invite dialog (the SDK hashes the
// addresses itself, with the pepper the server gives), and the Discovery settings (an address
// validated by the identity service, bound, then unbound), and the invite dialog's invitations
// by email (the identity service's token sent along), one step per run.
import { answer, client, input, login, sdk } from "./session.mjs";

const withIdentity = sdk.createClient({
  baseUrl: input.baseUrl,
  idBaseUrl: input.baseUrl,
  accessToken: login.access_token,
  userId: login.user_id,
  deviceId: login.device_id,
});

async function identityToken() {
  const openId = await client.getOpenIdToken();
  return (await withIdentity.registerWithIdentityServer(openId)).token;
}

async function found(token) {
  return withIdentity.identityHashedLookup(
    input.addresses.map((address) => [address, "email"]),
    token,
  );
}

const steps = {
  async invite() {
    const token = await identityToken();
    const inviting = sdk.createClient({
      baseUrl: input.baseUrl,
      idBaseUrl: input.baseUrl,
      accessToken: login.access_token,
      userId: login.user_id,
      deviceId: login.device_id,
      identityServer: { getAccessToken: async () => token },
    });
    const { room_id: roomId } = await client.createRoom({ name: "Budget 2027" });
    for (const address of input.addresses) await inviting.inviteByEmail(roomId, address);
    const state = await client.roomState(roomId);
    const invitations = state
      .filter((event) => event.type === "m.room.third_party_invite")
      .map((event) => event.content.display_name);
    const invited = state
      .filter((event) => event.type === "m.room.member" && event.content.membership === "invite")
      .map((event) => event.state_key);
    return { roomId, invitations, invited };
  },
  async lookup() {
    const token = await identityToken();
    const account = await withIdentity.getIdentityAccount(token);
    const terms = await withIdentity.getTerms(sdk.SERVICE_TYPES.IS, input.baseUrl);
    const single = await withIdentity.lookupThreePid("email", input.addresses[0], token);
    return { account: account.user_id, policies: terms.policies, found: await found(token), single };
  },
  async requestBind() {
    const token = await identityToken();
    const { sid } = await withIdentity.requestEmailToken(input.addresses[0], input.secret, 1, undefined, token);
    return { sid, token };
  },
  async bind() {
    await withIdentity.bindThreePid({
      sid: input.sid,
      client_secret: input.secret,
      id_server: withIdentity.getIdentityServerUrl(true),
      id_access_token: input.token,
    });
    const bound = await found(input.token);
    const { id_server_unbind_result: unbound } = await withIdentity.unbindThreePid(
      "email",
      input.addresses[0],
    );
    return { bound, unbound, after: await found(input.token) };
  },
};

answer(await steps[input.step ?? "lookup"]());
