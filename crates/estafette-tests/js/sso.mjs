// Element Web's single sign-on with matrix-js-sdk: the login flows it reads, the URL it sends
// the browser to, and, once the browser came back with a login token, the login with it.
// Input: baseUrl, redirectUrl, and either step "start" or step "finish" with loginToken.
import { anonymous, answer, input } from "./base.mjs";

if (input.step === "start") {
  const { flows } = await anonymous.loginFlows();
  const sso = flows.find((flow) => flow.type === "m.login.sso");
  const idp = sso?.identity_providers?.[0];
  answer({
    types: flows.map((flow) => flow.type),
    idp: idp ? { id: idp.id, name: idp.name } : null,
    url: anonymous.getSsoLoginUrl(input.redirectUrl, "sso", idp?.id),
  });
} else {
  let error = null;
  let login = null;
  try {
    login = await anonymous.loginWithToken(input.loginToken);
  } catch (e) {
    error = { status: e.httpStatus, errcode: e.errcode };
  }
  answer({ userId: login?.user_id ?? null, deviceId: login?.device_id ?? null, error });
}
