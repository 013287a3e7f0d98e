// What every script starts with: the SDK, the test's input (JSON in INPUT), and a client
// logged in with the input's user and password (an `m.login.password` login, as Element's).
export const sdk = await import(process.env.MATRIX_JS_SDK);
export const input = JSON.parse(process.env.INPUT);

const silent = { trace() {}, debug() {}, info() {}, log() {}, warn() {}, error() {} };
const anonymous = sdk.createClient({ baseUrl: input.baseUrl, logger: silent });
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

// Prints the result for the Rust test and stops (a long-poll may still be open).
export function answer(out) {
  console.log(JSON.stringify(out));
  process.exit(0);
}
