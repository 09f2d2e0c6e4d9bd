// Writes signing keys, JWKS documents and a set of access tokens, honest and hostile, produced by
// npm `jose` (an implementation independent of Olympus), for the token verification tests.
//
//   node jwt_fixtures.mjs OUT.json
//
// OUT.json: { now, issuer, audience, jwks, jwks_rotated, jwks_hostile, tokens: { name: token } }.
// Times are relative to `now` (seconds since the epoch, taken when the script runs).

import { writeFileSync } from "node:fs";
import { createSign, generateKeyPairSync } from "node:crypto";
import { CompactSign, FlattenedSign, SignJWT, exportJWK, exportSPKI, generateKeyPair } from "jose";

const out = process.argv[2];
if (!out) {
    console.error("usage: node jwt_fixtures.mjs OUT.json");
    process.exit(2);
}

const issuer = "https://zeus.olympus.test";
const audience = "olympus-api";
const now = Math.floor(Date.now() / 1000);

const b64u = (data) => Buffer.from(data).toString("base64url");
const text = (s) => new TextEncoder().encode(s);

async function keyPair(alg, kid, options = {}) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, ...options });
    const jwk = { ...(await exportJWK(publicKey)), kid, use: "sig", alg };
    return { alg, kid, publicKey, privateKey, jwk };
}

const rs = await keyPair("RS256", "rs-1");
const es = await keyPair("ES256", "es-1");
const ed = await keyPair("EdDSA", "ed-1", { crv: "Ed25519" });
const es2 = await keyPair("ES256", "es-2"); // published only in the rotated JWKS
const stranger = await keyPair("ES256", "es-1"); // same kid as es-1, never published

const claims = (extra = {}) => ({
    iss: issuer,
    aud: audience,
    sub: "user-42",
    client_id: "web-app",
    scope: "orders:read orders:write",
    jti: "jti-" + Math.random().toString(36).slice(2),
    iat: now,
    exp: now + 600,
    ...extra,
});

// A signed access token; `header` overrides or adds protected header parameters.
async function token(key, payload = claims(), header = {}, options = {}) {
    const jwt = new SignJWT(payload).setProtectedHeader({ alg: key.alg, typ: "at+jwt", kid: key.kid, ...header });
    return jwt.sign(key.privateKey, options);
}

// Signs an arbitrary header and payload with jose's CompactSign (no claim-set processing).
async function compact(key, header, payloadText, options = {}) {
    return new CompactSign(text(payloadText)).setProtectedHeader(header).sign(key.privateKey, options);
}

// Builds a token by hand, for what jose refuses to produce.
function handmade(header, payload, signature = "") {
    return `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}.${signature}`;
}

const tokens = {};

// Honest tokens.
tokens.valid_rs256 = await token(rs);
tokens.valid_es256 = await token(es);
tokens.valid_eddsa = await token(ed);
tokens.valid_ed25519_alg = await token({ ...ed, alg: "Ed25519" }, claims(), {});
tokens.valid_aud_array = await token(es, claims({ aud: ["billing", audience] }));
tokens.valid_typ_media_type = await token(es, claims(), { typ: "Application/AT+JWT" });
tokens.valid_client_credentials = await token(es, claims({ sub: undefined, client_id: "hermes" }));
tokens.valid_no_scope = await token(es, claims({ scope: undefined }));
tokens.valid_admin = await token(rs, claims({ scope: "admin users:read" }));
tokens.valid_expired_within_leeway = await token(es, claims({ exp: now - 30 }));
tokens.valid_nbf_within_leeway = await token(es, claims({ nbf: now + 30 }));
tokens.valid_short_lived = await token(es, claims({ exp: now + 2 }));
tokens.valid_rotated_key = await token(es2);
tokens.valid_no_kid = await new SignJWT(claims()).setProtectedHeader({ alg: "ES256", typ: "at+jwt" }).sign(es.privateKey);

// Claims that must be refused.
tokens.expired = await token(es, claims({ iat: now - 7200, exp: now - 3600 }));
tokens.nbf_in_future = await token(es, claims({ nbf: now + 3600 }));
tokens.iat_in_future = await token(es, claims({ iat: now + 3600, exp: now + 7200 }));
tokens.wrong_issuer = await token(es, claims({ iss: "https://evil.example" }));
tokens.issuer_with_trailing_slash = await token(es, claims({ iss: issuer + "/" }));
tokens.wrong_audience = await token(es, claims({ aud: "billing" }));
tokens.wrong_audience_array = await token(es, claims({ aud: ["billing", "hermes"] }));
tokens.missing_exp = await token(es, claims({ exp: undefined }));
tokens.exp_as_string = await token(es, claims({ exp: String(now + 600) }));
tokens.missing_subject = await token(es, claims({ sub: undefined, client_id: undefined }));
tokens.scope_not_string = await token(es, claims({ scope: ["orders:read"] }));
tokens.wrong_typ = await token(es, claims(), { typ: "JWT" });
tokens.missing_typ = await new SignJWT(claims()).setProtectedHeader({ alg: "ES256", kid: "es-1" }).sign(es.privateKey);

// Hostile headers and signatures.
tokens.alg_none = handmade({ alg: "none", typ: "at+jwt", kid: "es-1" }, claims());
tokens.alg_none_uppercase = handmade({ alg: "NONE", typ: "at+jwt", kid: "es-1" }, claims());
{
    // Algorithm confusion: HS256 keyed with the RSA public key as published, the classic attack on
    // verifiers that take the algorithm from the token.
    const pem = await exportSPKI(rs.publicKey);
    tokens.hs256_with_rsa_public_key = await new SignJWT(claims())
        .setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid: "rs-1" })
        .sign(text(pem));
}
tokens.es256_with_rsa_kid = await token(es, claims(), { kid: "rs-1" }); // alg does not match the key
tokens.rs256_with_ec_kid = await token(rs, claims(), { kid: "es-1" });
tokens.unknown_kid = await token(es, claims(), { kid: "nobody" });
tokens.signed_by_stranger = await token(stranger); // kid es-1, foreign key
tokens.unknown_crit = await token(es, claims(), { crit: ["olympus-ext"], "olympus-ext": true }, { crit: { "olympus-ext": true } });
{
    // RFC 7797 unencoded payload whose raw text is the base64url of a claim set: the signing input
    // is byte for byte that of an ordinary token, so only honouring `crit` refuses it.
    const raw = b64u(JSON.stringify(claims()));
    const jws = await new FlattenedSign(text(raw))
        .setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid: "es-1", b64: false, crit: ["b64"] })
        .sign(es.privateKey);
    tokens.b64_false = `${jws.protected}.${raw}.${jws.signature}`;
}
{
    const [h, , s] = tokens.valid_es256.split(".");
    tokens.tampered_payload = `${h}.${b64u(JSON.stringify(claims({ scope: "admin" })))}.${s}`;
    const sig = Buffer.from(s, "base64url");
    sig[10] ^= 0x01;
    tokens.tampered_signature = `${h}.${tokens.valid_es256.split(".")[1]}.${b64u(sig)}`;
    tokens.truncated_signature = `${h}.${tokens.valid_es256.split(".")[1]}.${b64u(sig.subarray(0, 63))}`;
    // The same signature DER-encoded, as OpenSSL would produce it: JOSE wants raw r||s.
    const der = derFromRaw(Buffer.from(s, "base64url"));
    tokens.es256_der_signature = `${h}.${tokens.valid_es256.split(".")[1]}.${b64u(der)}`;
}
{
    const [h, p, s] = tokens.valid_rs256.split(".");
    tokens.padded_base64 = `${h}.${p}.${s}==`;
    tokens.standard_base64_chars = `${h}.${p}.+/${s.slice(2)}`;
    tokens.invalid_base64_char = `${h}.${p.slice(0, 10)}*${p.slice(11)}.${s}`;
    tokens.whitespace_inside = `${h}.${p.slice(0, 10)} ${p.slice(10)}.${s}`;
    tokens.four_segments = `${h}.${p}.${s}.${s}`;
    tokens.two_segments = `${h}.${p}`;
}
tokens.oversized = await token(es, claims({ padding: "x".repeat(9000) }));
tokens.payload_not_object = await compact(es, { alg: "ES256", typ: "at+jwt", kid: "es-1" }, "[1,2,3]");
tokens.payload_not_json = await compact(es, { alg: "ES256", typ: "at+jwt", kid: "es-1" }, "not json");
let weakJwk;
{
    // RS256 signed with a 1024-bit key: too weak (RFC 7518 §3.3 requires 2048 bits). jose refuses
    // to sign with it, so node:crypto does.
    const weak = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const header = { alg: "RS256", typ: "at+jwt", kid: "rs-weak" };
    const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims()))}`;
    const signer = createSign("RSA-SHA256");
    signer.update(input);
    tokens.rsa_1024_bit_key = `${input}.${b64u(signer.sign(weak.privateKey))}`;
    weakJwk = { ...weak.publicKey.export({ format: "jwk" }), kid: "rs-weak", use: "sig", alg: "RS256" };
}

// ECDSA-Sig-Value (SEQUENCE of two INTEGERs) from JOSE's fixed-size r||s.
function derFromRaw(raw) {
    const int = (bytes) => {
        let i = 0;
        while (i < bytes.length - 1 && bytes[i] === 0) i++;
        let v = bytes.subarray(i);
        if (v[0] & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
        return Buffer.concat([Buffer.from([0x02, v.length]), v]);
    };
    const body = Buffer.concat([int(raw.subarray(0, 32)), int(raw.subarray(32))]);
    return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

const jwks = { keys: [rs.jwk, es.jwk, ed.jwk] };
const jwks_rotated = { keys: [rs.jwk, es.jwk, ed.jwk, es2.jwk] };
// Keys a verifier must skip: a weak RSA key, an encryption key, an unknown key type, a symmetric
// key and an EC point that is not on the curve.
const offCurve = { ...es.jwk, kid: "es-off-curve", x: es.jwk.y, y: es.jwk.x };
const jwks_hostile = {
    keys: [
        weakJwk,
        { ...es2.jwk, kid: "es-enc", use: "enc" },
        { kty: "AKP", kid: "ml-dsa", alg: "ML-DSA-44", pub: "AAAA" },
        { kty: "oct", kid: "hmac", k: b64u("secret") },
        offCurve,
        es.jwk,
    ],
};

writeFileSync(out, JSON.stringify({ now, issuer, audience, jwks, jwks_rotated, jwks_hostile, tokens }, null, 1));
