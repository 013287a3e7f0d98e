// An OpenID Connect provider standing in for ProConnect: oidc-provider (the certified Node
// implementation) with one confidential client (the homeserver) and the accounts given in
// INPUT, which sign in on a plain login form (the account's login name; any password is not
// asked, as ProConnect delegates it to the ministries' own identity providers). Prints
// {"ready": true, "issuer": …} once listening, and runs until killed.
import http from "node:http";
import path from "node:path";

const input = JSON.parse(process.env.INPUT);
const nodeModules = path.resolve(process.env.MATRIX_JS_SDK, "../../..");
const { default: Provider } = await import(path.join(nodeModules, "oidc-provider/lib/index.js"));

const issuer = `http://127.0.0.1:${input.port}`;
const accounts = input.accounts; // login -> claims (with `sub`)
const provider = new Provider(issuer, {
    clients: [
        {
            client_id: input.client_id,
            client_secret: input.client_secret,
            redirect_uris: input.redirect_uris,
            response_types: ["code"],
            grant_types: ["authorization_code"],
            token_endpoint_auth_method: "client_secret_basic",
        },
    ],
    claims: {
        openid: ["sub"],
        email: ["email", "email_verified"],
        profile: ["name", "given_name", "usual_name"],
    },
    // The claims go in the ID token, where the homeserver reads them.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    async findAccount(ctx, sub) {
        const claims = Object.values(accounts).find((a) => a.sub === sub);
        if (!claims) return undefined;
        return { accountId: sub, async claims() { return claims; } };
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});
provider.proxy = false;

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const callback = provider.callback();

const server = http.createServer(async (req, res) => {
    const match = req.url.match(/^\/interaction\/([^/?]+)/);
    if (!match) return callback(req, res);
    try {
        const details = await provider.interactionDetails(req, res);
        if (req.method === "GET") {
            res.setHeader("content-type", "text/html");
            res.end(`<form method="post" action="/interaction/${escape(details.uid)}">` +
                `<input name="login"><button>Sign in</button></form>`);
            return;
        }
        let body = "";
        for await (const chunk of req) body += chunk;
        const login = new URLSearchParams(body).get("login");
        const claims = accounts[login];
        if (!claims) {
            res.statusCode = 401;
            res.end("unknown login");
            return;
        }
        const grant = new provider.Grant({ accountId: claims.sub, clientId: details.params.client_id });
        grant.addOIDCScope(details.params.scope);
        const grantId = await grant.save();
        await provider.interactionFinished(req, res, {
            login: { accountId: claims.sub },
            consent: { grantId },
        }, { mergeWithLastSubmission: false });
    } catch (err) {
        res.statusCode = 500;
        res.end(String(err));
    }
});
server.listen(input.port, "127.0.0.1", () => {
    console.log(JSON.stringify({ ready: true, issuer }));
});
