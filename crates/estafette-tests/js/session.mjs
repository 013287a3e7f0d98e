// A client logged in with the input's user and password (an `m.login.password` login, as
// Element's), on top of what every script has.
import { anonymous, input, sdk, silent } from "./base.mjs";

export { answer, input, sdk } from "./base.mjs";

export const login = await anonymous.loginRequest({
  type: "m.login.password",
  identifier: { type: "m.id.user", user: input.user },
  password: input.password,
});
export const client = sdk.createClient({
  baseUrl: input.baseUrl,
  accessToken: login.access_token,
  userId: login.user_id,
  deviceId: login.device_id,
  logger: silent,
});
