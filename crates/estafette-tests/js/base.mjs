// What every script starts with: the SDK, the test's input (JSON in INPUT), a client that is
// not logged in, and the way to hand the result back.
export const sdk = await import(process.env.MATRIX_JS_SDK);
export const input = JSON.parse(process.env.INPUT);

export const silent = { trace() {}, debug() {}, info() {}, log() {}, warn() {}, error() {} };
export const anonymous = sdk.createClient({ baseUrl: input.baseUrl, logger: silent });

// Prints the result for the Rust test and stops (a long-poll may still be open).
export function answer(out) {
  console.log(JSON.stringify(out));
  process.exit(0);
}
