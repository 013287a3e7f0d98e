// Element Web's email flows, one step per run (between steps the test follows the link of
// the email it received, as the person would): asking for a validation email, registering
// with the validated address, resetting a forgotten password, adding and removing addresses.
import { anonymous, answer, input, sdk, silent } from "./base.mjs";

// What Element puts in an m.login.email.identity stage (both spellings).
function emailStage(session) {
  const creds = { sid: input.sid, client_secret: input.secret };
  return { type: "m.login.email.identity", threepid_creds: creds, threepidCreds: creds, session };
}

// The 401 of a UIA request: its session.
async function uiaSession(request) {
  try {
    await request();
  } catch (error) {
    if (error.httpStatus === 401 && error.data?.session) return error.data.session;
    throw error;
  }
  throw new Error("the request did not ask for authentication");
}

const steps = {
  async request() {
    const ask = {
      register: (...args) => anonymous.requestRegisterEmailToken(...args),
      password: (...args) => anonymous.requestPasswordEmailToken(...args),
      add: (...args) => anonymous.requestAdd3pidEmailToken(...args),
    }[input.purpose];
    const response = await ask(input.email, input.secret, 1);
    return { sid: response.sid, submitUrl: response.submit_url };
  },
  async register() {
    const session = await uiaSession(() => anonymous.registerRequest({ password: input.password }));
    const registered = await anonymous.registerRequest({
      password: input.password,
      initial_device_display_name: "Element",
      auth: emailStage(session),
    });
    return { userId: registered.user_id };
  },
  async reset() {
    // Element's forgotten-password page: no access token, the validated address as the stage.
    await anonymous.setPassword(emailStage(undefined), input.password, true);
    return { reset: true };
  },
  async add() {
    const login = await anonymous.loginRequest({
      type: "m.login.password",
      identifier: { type: "m.id.thirdparty", medium: "email", address: input.loginEmail },
      password: input.password,
    });
    const client = sdk.createClient({
      baseUrl: input.baseUrl,
      accessToken: login.access_token,
      userId: login.user_id,
      deviceId: login.device_id,
      logger: silent,
    });
    const data = { sid: input.sid, client_secret: input.secret };
    const session = await uiaSession(() => client.addThreePidOnly(data));
    await client.addThreePidOnly({
      ...data,
      auth: {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: login.user_id },
        password: input.password,
        session,
      },
    });
    const added = (await client.getThreePids()).threepids.map((t) => t.address).sort();
    await client.deleteThreePid("email", input.email);
    const kept = (await client.getThreePids()).threepids.map((t) => t.address);
    const capabilities = await client.getCapabilities();
    // As Element reads it: absent means allowed.
    const changesAllowed = capabilities["m.3pid_changes"]?.enabled !== false;
    return { userId: login.user_id, added, kept, changesAllowed };
  },
};

answer(await steps[input.step]());
