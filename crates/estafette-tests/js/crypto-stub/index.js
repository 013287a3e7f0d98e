// bot-sdk loads its native crypto library at start-up even when encryption is off; the
// library's binaries are downloaded from GitHub, which this machine cannot reach. Every name
// resolves to a class that refuses to be used, so that an accidental use fails loudly.
"use strict";
const unavailable = (name) =>
  class {
    constructor() {
      throw new Error(`matrix-sdk-crypto-nodejs is not available here (${name})`);
    }
  };
module.exports = new Proxy(
  {},
  { get: (target, name) => (name === "__esModule" ? false : unavailable(String(name))) },
);
