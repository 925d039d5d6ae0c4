// Package jwt verifies JSON Web Tokens for package auth: a [Verifier]
// turns a token into an auth.Identity, whose topic patterns come from a
// claim of the token. Plug it into any Handler with auth.Bearer:
//
//	v := &jwt.Verifier{JWKSURL: "https://id.example.com/.well-known/jwks.json",
//		Issuer: "https://id.example.com", Audience: "pushpull"}
//	h := &sse.Handler{Broker: b, Auth: &auth.Bearer{Verify: v.Verify, Cookie: "pp_token"}}
//
// It is its own module so that the root module does not depend on
// github.com/golang-jwt/jwt/v5, which does the signature checks.
//
// # Algorithms and keys
//
// HS256 (a shared secret), RS256 (RSA), ES256 (ECDSA P-256) and EdDSA
// (Ed25519). The algorithm a token names must be one of those and match
// its key's: a token signed "none", or with HS256 against an RSA public
// key, is refused. Keys are static ([Verifier.Keys]) and/or fetched from
// a JWKS URL ([Verifier.JWKSURL]), cached for JWKSMaxAge and fetched again
// at once (at most every JWKSMinRefresh) when a token names a key ID the
// cache does not have, so a rotated key is picked up without a restart.
// While the JWKS server cannot be reached the cached keys go on being
// used; with none cached, Verify fails with an error that does not wrap
// auth.ErrUnauthenticated (Handlers answer 503, which clients retry).
//
// # Claims
//
//	{
//	  "sub": "alice",
//	  "exp": 1767225600,
//	  "iss": "https://id.example.com",
//	  "aud": "pushpull",
//	  "pushpull": {"subscribe": ["user/alice/*", "prices"], "publish": ["chat/*"]}
//	}
//
// sub becomes Identity.Subject, exp Identity.Expires (plus Leeway), and
// the "subscribe" and "publish" lists of the claim named by
// [Verifier.Claim] ("pushpull" by default) the identity's patterns: exact
// topics, or prefixes ending in "*" ("*" alone: every topic). A token
// without the claim may do nothing. Setting Claim to "mercure" reads
// Mercure's claim, whose shape is the same; Mercure's URI-template
// selectors are not supported, and a token holding one is refused rather
// than read differently from Mercure ("*" is supported and means the
// same). exp, nbf and iat are checked with Leeway for clock skew; iss and
// aud when Issuer and Audience are set.
//
// # Errors
//
// Every refusal wraps auth.ErrUnauthenticated (an expired token
// auth.ErrExpired) and says why in words fit for the client: "token
// expired", "token not valid yet", "wrong audience", "wrong issuer",
// "bad signature", "algorithm not allowed", "unknown key", "malformed
// token", "bad claim".
package jwt
