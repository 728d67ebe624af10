/* Verify a recompense payout proof in the browser, against the published commitment.
 *
 * The same checks, in the same order, as src/recompense/proofs/verify.py (which is the
 * specification; docs/proofs.md says it in prose). SHA-256 (FIPS 180-4) and Keccak-256
 * (Ethereum's: padding byte 0x01, not SHA3-256) are implemented below in plain
 * JavaScript, so the check works offline and on any origin (WebCrypto needs HTTPS).
 *
 * The commitment's Ed25519 signature (src/recompense/proofs/signature.py) is checked
 * with the browser's own WebCrypto (Ed25519: Chromium 137+, Firefox 129+, Safari 17+;
 * in a secure context: HTTPS or localhost), not with cryptography written here: where
 * the browser cannot, the page says the signature was not checked.
 * Written for recompense; Apache-2.0 like the rest of the project.
 *
 * Works in a browser (window.RecompenseVerify, and the "Verify my payout" page) and in
 * Node (module.exports), where the test suite checks it against the Python verifier
 * and the signature against Python's, TweetNaCl's and noble's Ed25519. */
"use strict";
(function (root) {
  // ---- SHA-256 ---------------------------------------------------------------------
  var K = [0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,
    0xab1c5ed5,0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,
    0xc19bf174,0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,
    0x76f988da,0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,
    0x14292967,0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,
    0x92722c85,0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,
    0x106aa070,0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,
    0x682e6ff3,0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,
    0xc67178f2];
  var H0 = [0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,0x510e527f,0x9b05688c,0x1f83d9ab,
    0x5be0cd19];

  function rotr(x, n) { return (x >>> n) | (x << (32 - n)); }

  function sha256(message) {
    var length = message.length, bitsHigh = Math.floor(length / 0x20000000);
    var padded = new Uint8Array(((length + 9 + 63) >> 6) << 6);
    padded.set(message);
    padded[length] = 0x80;
    var view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, bitsHigh);
    view.setUint32(padded.length - 4, (length << 3) >>> 0);
    var h = H0.slice(), w = new Array(64);
    for (var offset = 0; offset < padded.length; offset += 64) {
      for (var i = 0; i < 16; i++) { w[i] = view.getUint32(offset + 4 * i); }
      for (i = 16; i < 64; i++) {
        var s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
        var s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
      for (i = 0; i < 64; i++) {
        var t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
          K[i] + w[i]) | 0;
        var t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
      h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + k) | 0;
    }
    var out = new Uint8Array(32), outView = new DataView(out.buffer);
    for (i = 0; i < 8; i++) { outView.setUint32(4 * i, h[i] >>> 0); }
    return out;
  }

  // ---- Keccak-256 (64-bit lanes as BigInt: ~50 hashes per proof, speed is no issue) ----
  var MASK = (1n << 64n) - 1n;
  var RC = ["0000000000000001","0000000000008082","800000000000808a","8000000080008000",
    "000000000000808b","0000000080000001","8000000080008081","8000000000008009",
    "000000000000008a","0000000000000088","0000000080008009","000000008000000a",
    "000000008000808b","800000000000008b","8000000000008089","8000000000008003",
    "8000000000008002","8000000000000080","000000000000800a","800000008000000a",
    "8000000080008081","8000000000008080","0000000080000001","8000000080008008"]
    .map(function (x) { return BigInt("0x" + x); });
  var ROT = [0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8,
    18, 2, 61, 56, 14].map(BigInt);  // offsets of lane x + 5y
  var RATE = 136;

  function rotl(v, n) { return n === 0n ? v : ((v << n) | (v >> (64n - n))) & MASK; }

  function keccakF(A) {
    var C = new Array(5), B = new Array(25), x, y;
    for (var round = 0; round < 24; round++) {
      for (x = 0; x < 5; x++) { C[x] = A[x] ^ A[x + 5] ^ A[x + 10] ^ A[x + 15] ^ A[x + 20]; }
      for (x = 0; x < 5; x++) {
        var D = C[(x + 4) % 5] ^ rotl(C[(x + 1) % 5], 1n);
        for (y = 0; y < 25; y += 5) { A[x + y] ^= D; }
      }
      for (x = 0; x < 5; x++) {
        for (y = 0; y < 5; y++) {
          B[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(A[x + 5 * y], ROT[x + 5 * y]);
        }
      }
      for (y = 0; y < 25; y += 5) {
        for (x = 0; x < 5; x++) {
          A[x + y] = B[x + y] ^ ((B[(x + 1) % 5 + y] ^ MASK) & B[(x + 2) % 5 + y]);
        }
      }
      A[0] ^= RC[round];
    }
  }

  function keccak256(message) {
    var blocks = Math.floor(message.length / RATE) + 1;
    var padded = new Uint8Array(blocks * RATE);
    padded.set(message);
    padded[message.length] ^= 0x01;
    padded[padded.length - 1] ^= 0x80;
    var A = new Array(25).fill(0n);
    for (var offset = 0; offset < padded.length; offset += RATE) {
      for (var lane = 0; lane < RATE / 8; lane++) {
        var v = 0n;
        for (var byte = 7; byte >= 0; byte--) {
          v = (v << 8n) | BigInt(padded[offset + 8 * lane + byte]);
        }
        A[lane] ^= v;
      }
      keccakF(A);
    }
    var out = new Uint8Array(32);
    for (var i = 0; i < 32; i++) { out[i] = Number((A[i >> 3] >> BigInt(8 * (i & 7))) & 0xffn); }
    return out;
  }

  // ---- bytes -----------------------------------------------------------------------
  function hex(bytes) {
    return Array.prototype.map.call(bytes, function (b) {
      return (b < 16 ? "0" : "") + b.toString(16);
    }).join("");
  }
  function fromHex(text) {
    var out = new Uint8Array(text.length / 2);
    for (var i = 0; i < out.length; i++) { out[i] = parseInt(text.substr(2 * i, 2), 16); }
    return out;
  }
  function concat() {
    var total = 0, i;
    for (i = 0; i < arguments.length; i++) { total += arguments[i].length; }
    var out = new Uint8Array(total), at = 0;
    for (i = 0; i < arguments.length; i++) { out.set(arguments[i], at); at += arguments[i].length; }
    return out;
  }
  function bigEndian(value, size) {  // two's complement for negatives (int64be)
    var v = BigInt(value);
    if (v < 0n) { v += 1n << BigInt(8 * size); }
    var out = new Uint8Array(size);
    for (var i = size - 1; i >= 0; i--) { out[i] = Number(v & 0xffn); v >>= 8n; }
    return out;
  }
  function compare(a, b) {
    for (var i = 0; i < a.length; i++) { if (a[i] !== b[i]) { return a[i] - b[i]; } }
    return 0;
  }

  // ---- the encodings (verify.py) ------------------------------------------------------
  var COMMITMENT_FORMAT = "recompense-commitment-v1", PROOF_FORMAT = "recompense-proof-v1";
  var UNITS_PER_CENT = 10000n, MAX_SUM = (1n << 128n) - 1n, HEX32 = /^[0-9a-f]{64}$/;

  function userHash(salt, userId) { return sha256(concat(salt, bigEndian(userId, 8))); }
  function sumLeaf(commitment, amount) {
    return sha256(concat([0], commitment, bigEndian(amount, 16)));
  }
  function sumNode(left, right) {
    var message = concat([1], left[0], bigEndian(left[1], 16), right[0], bigEndian(right[1], 16));
    return [sha256(message), left[1] + right[1]];
  }
  function standardLeaf(commitment, units) {
    return keccak256(keccak256(concat(commitment, bigEndian(units, 32))));
  }
  function standardNode(a, b) {
    return keccak256(compare(a, b) <= 0 ? concat(a, b) : concat(b, a));
  }
  function sumTreeDepth(leaves) { return (leaves - 1).toString(2).length - (leaves === 1 ? 1 : 0); }

  // ---- the checks ----------------------------------------------------------------------
  function Failed(message) { this.message = message; }
  function fail(message) { throw new Failed(message); }
  function obj(data, key, where) {
    var v = data[key];
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      fail(where + ": '" + key + "' is missing or not an object");
    }
    return v;
  }
  function int(data, key, where, low, high) {
    var v = data[key];
    if (typeof v !== "number" || !Number.isInteger(v)) {
      fail(where + ": '" + key + "' is " + JSON.stringify(v) + ", expected an integer");
    }
    if (!Number.isSafeInteger(v)) {
      fail(where + ": '" + key + "' = " + v + " is too large for this page; use recompense verify");
    }
    if (v < low || (high !== undefined && v > high)) {
      fail(where + ": '" + key + "' is " + v + ", expected an integer in [" + low + ", " + high + "]");
    }
    return v;
  }
  function hex32(data, key, where, prefix) {
    var v = data[key], p = prefix || "";
    if (typeof v !== "string" || v.indexOf(p) !== 0 || !HEX32.test(v.slice(p.length))) {
      fail(where + ": '" + key + "' must be " + (p ? p + " and " : "") + "64 lowercase hex digits");
    }
    return v.slice(p.length);
  }
  function cents(value) {
    var v = BigInt(value), sign = v < 0n ? "-" : "";
    if (v < 0n) { v = -v; }
    var dollars = (v / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return sign + "$" + dollars + "." + (v % 100n).toString().padStart(2, "0");
  }

  function checkCommitment(c) {
    if (c.format !== COMMITMENT_FORMAT) { fail("commitment: format is " + JSON.stringify(c.format)); }
    if (typeof c.program_id !== "string" || !c.program_id) { fail("commitment: no program_id"); }
    hex32(c, "manifest_sha256", "commitment");
    var users = int(c, "users", "commitment", 1);
    var total = int(c, "total_cents", "commitment", 0);
    var sums = obj(c, "sum_tree", "commitment");
    hex32(sums, "root", "commitment sum_tree");
    var depth = int(sums, "depth", "commitment sum_tree", 0);
    if (depth !== sumTreeDepth(users)) {
      fail("commitment: sum_tree depth " + depth + " does not fit " + users + " users");
    }
    var standard = obj(c, "standard_tree", "commitment");
    hex32(standard, "root", "commitment standard_tree", "0x");
    if (JSON.stringify(standard.leaf_encoding) !== JSON.stringify(["bytes32", "uint256"])) {
      fail("commitment: standard_tree leaf_encoding must be [\"bytes32\", \"uint256\"]");
    }
    return "commitment: programme " + c.program_id + ", run " + c.manifest_sha256.slice(0, 12) +
      "…, " + users + " users, total " + cents(total);
  }
  function checkProof(c, p) {
    if (p.format !== PROOF_FORMAT) { fail("proof: format is " + JSON.stringify(p.format)); }
    ["program_id", "manifest_sha256"].forEach(function (key) {
      if (p[key] !== c[key]) {
        fail("proof: " + key + " is " + JSON.stringify(p[key]) + " but the commitment's is " +
          JSON.stringify(c[key]) + ": the proof belongs to another run");
      }
    });
    return "proof: same programme and run (" + c.manifest_sha256.slice(0, 12) + "…)";
  }
  function checkUserHash(c, p) {
    var userId = int(p, "user_id", "proof", -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    var salt = fromHex(hex32(p, "salt", "proof")), claimed = hex32(p, "user_hash", "proof");
    var computed = hex(userHash(salt, userId));
    if (computed !== claimed) {
      fail("salted user hash does not match the leaf: SHA-256(salt ‖ user " + userId + ") = " +
        computed.slice(0, 16) + "…, the proof's leaf has " + claimed.slice(0, 16) + "…");
    }
    return "user hash: SHA-256(salt ‖ user " + userId + ") = " + computed.slice(0, 16) + "…";
  }
  function checkSumTree(c, p) {
    var users = c.users, depth = c.sum_tree.depth;
    var amount = BigInt(int(p, "amount_cents", "proof", 0));
    var tree = obj(p, "sum_tree", "proof");
    var index = int(tree, "leaf_index", "proof sum_tree", 0, users - 1);
    var path = tree.path;
    if (!Array.isArray(path) || path.length !== depth) {
      fail("sum tree: path has " + (Array.isArray(path) ? path.length : "no") + " steps, a tree of " +
        users + " users has " + depth);
    }
    var node = [sumLeaf(fromHex(p.user_hash), amount), amount];
    path.forEach(function (step, level) {
      var where = "sum tree level " + level;
      if (step === null || typeof step !== "object") { fail(where + ": expected {side, hash, sum}"); }
      var side = Math.floor(index / Math.pow(2, level)) % 2 ? "left" : "right";
      if (step.side !== side) { fail(where + ": sibling side contradicts leaf index " + index); }
      var siblingSum = BigInt(int(step, "sum", where, 0));
      var sibling = [fromHex(hex32(step, "hash", where)), siblingSum];
      var pair = side === "left" ? [sibling, node] : [node, sibling];
      if (pair[0][1] + pair[1][1] > MAX_SUM) { fail(where + ": sum overflows 128 bits"); }
      node = sumNode(pair[0], pair[1]);
    });
    var total = BigInt(c.total_cents);
    if (node[1] !== total) {
      fail("sum tree: root sum " + node[1] + " ≠ published total " + total + " cents");
    }
    if (hex(node[0]) !== c.sum_tree.root) {
      fail("sum tree: root hash " + hex(node[0]).slice(0, 16) + "… ≠ published root " +
        c.sum_tree.root.slice(0, 16) + "…");
    }
    return "sum tree: " + cents(amount) + " and " + depth + " levels up to the published root, " +
      "root sum = published total " + cents(total);
  }
  function checkStandardValue(c, p) {
    var standard = obj(p, "standard_tree", "proof");
    var expected = ["0x" + p.user_hash, (BigInt(p.amount_cents) * UNITS_PER_CENT).toString()];
    if (JSON.stringify(standard.value) !== JSON.stringify(expected)) {
      fail("standard tree: value " + JSON.stringify(standard.value) + " is not " +
        JSON.stringify(expected));
    }
    var token = c.currency ? String(c.currency) : "USDC"; // USDC and USDT: 6 decimals
    return "standard tree: value = [user hash, " + expected[1] + " " + token + " base units]";
  }
  function checkStandardTree(c, p) {
    var users = c.users, standard = p.standard_tree;
    var index = int(standard, "tree_index", "proof standard_tree", users - 1, 2 * users - 2);
    var hashes = standard.proof, needed = (index + 1).toString(2).length - 1;
    if (!Array.isArray(hashes) || hashes.length !== needed) {
      fail("standard tree: proof has " + (Array.isArray(hashes) ? hashes.length : "no") +
        " hashes, a leaf at tree index " + index + " needs " + needed);
    }
    var node = standardLeaf(fromHex(p.user_hash), BigInt(p.amount_cents) * UNITS_PER_CENT);
    hashes.forEach(function (entry, level) {
      var digits = typeof entry === "string" ? entry.replace(/^0x/, "") : "";
      if (!HEX32.test(digits)) { fail("standard tree: proof[" + level + "] is not 0x and 64 hex digits"); }
      node = standardNode(node, fromHex(digits));
    });
    var root = c.standard_tree.root;
    if ("0x" + hex(node) !== root) {
      fail("standard tree: root 0x" + hex(node).slice(0, 16) + "… ≠ published root " +
        root.slice(0, 18) + "…");
    }
    return "standard tree: " + hashes.length + " hashes up to the published root " +
      root.slice(0, 18) + "…";
  }

  var STEPS = [checkCommitment, checkProof, checkUserHash, checkSumTree, checkStandardValue,
    checkStandardTree];

  /* {ok, passed: [text…], failure: text | null}: the first failing step stops the check. */
  function verifyProof(commitment, proof) {
    if (!commitment || typeof commitment !== "object" || !proof || typeof proof !== "object") {
      return { ok: false, passed: [], failure: "commitment and proof must be JSON objects" };
    }
    var passed = [];
    try {
      STEPS.forEach(function (step) { passed.push(step(commitment, proof)); });
    } catch (error) {
      if (error instanceof Failed) { return { ok: false, passed: passed, failure: error.message }; }
      return { ok: false, passed: passed, failure: "malformed input: " + error };
    }
    return { ok: true, passed: passed, failure: null };
  }

  // ---- the commitment's signature (signature.py) -------------------------------------
  var SIGNING_CONTEXT = "recompense-commitment-signature-v1\n", SIG_HEX = /^[0-9a-f]{128}$/;
  var SPKI_ED25519 = "302a300506032b6570032100";  // DER prefix of an Ed25519 public key

  function isObject(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }

  /* RFC 8785 (JCS) for what a commitment holds: keys sorted by UTF-16 code units (the
   * default sort), strings as JSON.stringify writes them, integers below 2^53. */
  function canonical(value) {
    if (Array.isArray(value)) { return "[" + value.map(canonical).join(",") + "]"; }
    if (isObject(value)) { return canonicalObject(value, null); }
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) { throw new Error("not canonical JSON: " + value); }
      return String(value);
    }
    if (typeof value === "string" || typeof value === "boolean" || value === null) {
      return JSON.stringify(value);
    }
    throw new Error("not canonical JSON: " + typeof value);
  }
  function canonicalObject(object, skip, replace) {
    var keys = Object.keys(object).filter(function (k) { return k !== skip; });
    if (replace) { keys.push(replace.key); }
    return "{" + keys.sort().map(function (k) {
      var text = replace && k === replace.key ? replace.text : canonical(object[k]);
      return JSON.stringify(k) + ":" + text;
    }).join(",") + "}";
  }
  /* The signed bytes: the context, then JCS of the commitment without signature.value. */
  function signedMessage(commitment) {
    var signature = commitment.signature, replace = null;
    if (isObject(signature)) {
      replace = { key: "signature", text: canonicalObject(signature, "value") };
    }
    return new TextEncoder().encode(SIGNING_CONTEXT + canonicalObject(commitment, "signature", replace));
  }
  /* {raw: 32 bytes, keyId: text or null} from public-key.json, a PEM key or 64 hex digits. */
  function parsePublicKey(text) {
    text = String(text).trim();
    if (text.charAt(0) === "{") {
      var data = JSON.parse(text);
      if (!isObject(data) || data.format !== "recompense-public-key-v1" || data.algorithm !== "Ed25519" ||
          typeof data.public_key !== "string" || !HEX32.test(data.public_key) ||
          typeof data.key_id !== "string" || !data.key_id) {
        throw new Error("not a recompense-public-key-v1 file of an Ed25519 key");
      }
      return { raw: fromHex(data.public_key), keyId: data.key_id };
    }
    if (text.indexOf("-----BEGIN PUBLIC KEY-----") === 0) {
      var body = text.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, "").replace(/\s+/g, "");
      var der = Uint8Array.from(atob(body), function (ch) { return ch.charCodeAt(0); });
      if (der.length !== 44 || hex(der.slice(0, 12)) !== SPKI_ED25519) {
        throw new Error("not an Ed25519 public key");
      }
      return { raw: der.slice(12), keyId: null };
    }
    if (HEX32.test(text.toLowerCase())) { return { raw: fromHex(text.toLowerCase()), keyId: null }; }
    throw new Error("not a public key: expected 64 hex digits, a PEM key or the JSON key file");
  }
  function fingerprint(raw) { return hex(sha256(raw)).slice(0, 16); }

  /* Promise of {status: valid | invalid | unsigned | unchecked, detail, keyId}: the same
   * statuses, in the same cases, as signature.py's check_signature. */
  function verifySignature(commitment, key) {
    function answer(status, detail, keyId) {
      return { status: status, detail: "signature: " + detail, keyId: keyId === undefined ? null : keyId };
    }
    return Promise.resolve().then(function () {
      if (!isObject(commitment)) { return answer("invalid", "the commitment is not a JSON object"); }
      var signature = commitment.signature;
      if (signature === undefined || signature === null) {
        return answer("unsigned", "none — the commitment is unsigned, so nothing shows that the " +
          "programme published it");
      }
      if (!isObject(signature)) { return answer("invalid", JSON.stringify(signature) + " is not an object"); }
      if (signature.algorithm !== "Ed25519") {
        var algorithm = signature.algorithm === undefined ? null : signature.algorithm;
        return answer("invalid", "algorithm " + JSON.stringify(algorithm) + " is not 'Ed25519'");
      }
      var keyId = signature.key_id;
      if (typeof keyId !== "string" || !keyId) { return answer("invalid", "'key_id' is missing or not a string"); }
      if (typeof signature.value !== "string" || !SIG_HEX.test(signature.value)) {
        return answer("invalid", "'value' must be 128 lowercase hex digits (64 bytes)");
      }
      if (!key) {
        return answer("unchecked", "Ed25519 by key " + keyId + ", not checked (no public key given: " +
          "use the programme's published key)", keyId);
      }
      if (key.keyId && keyId !== key.keyId) {
        return answer("invalid", "made with key " + keyId + ", but the programme's key is " + key.keyId, keyId);
      }
      var message;
      try { message = signedMessage(commitment); } catch (error) {
        return answer("invalid", "cannot be checked: " + error.message, keyId);
      }
      var where = "the programme's key " + (key.keyId || fingerprint(key.raw)) + " (" + hex(key.raw) + ")";
      var subtle = root.crypto && root.crypto.subtle;
      if (!subtle) {
        return answer("unchecked", "this browser cannot check Ed25519 signatures here (it needs a " +
          "current browser, over HTTPS)", keyId);
      }
      return subtle.importKey("raw", key.raw, { name: "Ed25519" }, false, ["verify"])
        .then(function (publicKey) {
          return subtle.verify({ name: "Ed25519" }, publicKey, fromHex(signature.value), message);
        })
        .then(function (valid) {
          return valid ?
            answer("valid", "Ed25519 by " + where + ", over the whole commitment", keyId) :
            answer("invalid", "does not verify with " + where + ": the commitment was changed " +
              "after it was signed, or another key signed it", keyId);
        }, function (error) {
          if (error && error.name === "NotSupportedError") {
            return answer("unchecked", "this browser cannot check Ed25519 signatures (" + error.message + ")", keyId);
          }
          return answer("invalid", "does not verify with " + where + ": " + error, keyId);
        });
    });
  }

  // ---- the chain of commitments across amendments (verify.py) -------------------------
  /* SHA-256 of the commitment's canonical JSON (JCS) without its signature. */
  function chainSha256(commitment) {
    return hex(sha256(new TextEncoder().encode(canonicalObject(commitment, "signature"))));
  }
  function linkName(sequence) { return sequence === 0 ? "base" : "amendment " + sequence; }
  function checkLink(chain, sequence) {
    var c = chain[sequence], where = linkName(sequence), base = chain[0];
    try { checkCommitment(c); } catch (error) {
      if (error instanceof Failed) { fail(where + ": " + error.message); }
      throw error;
    }
    if (sequence === 0) {
      if ("previous" in c || "amendment" in c) {
        fail(where + ": names a previous commitment; the chain must start at its base");
      }
      return where + ": run " + c.manifest_sha256.slice(0, 12) + "…, total " + cents(c.total_cents);
    }
    if (c.program_id !== base.program_id) {
      fail(where + ": programme " + JSON.stringify(c.program_id) + ", the base's is " +
        JSON.stringify(base.program_id));
    }
    var amendment = obj(c, "amendment", where), previous = obj(c, "previous", where);
    if (amendment.sequence !== sequence) {
      fail(where + ": its sequence is " + JSON.stringify(amendment.sequence) + ", expected " + sequence +
        " (the chain is out of order, or a link is missing)");
    }
    if (amendment.base_manifest_sha256 !== base.manifest_sha256) {
      fail(where + ": base manifest " + JSON.stringify(amendment.base_manifest_sha256) +
        " is not the base's " + base.manifest_sha256);
    }
    var before = chain[sequence - 1], name = linkName(sequence - 1);
    if (previous.sequence !== sequence - 1) {
      fail(where + ": previous sequence is " + JSON.stringify(previous.sequence) + ", expected " +
        (sequence - 1) + " (the chain is out of order)");
    }
    if (previous.manifest_sha256 !== before.manifest_sha256) {
      fail(where + ": previous manifest " + JSON.stringify(previous.manifest_sha256) + " is not " +
        name + "'s " + before.manifest_sha256);
    }
    var expected = chainSha256(before);
    if (previous.commitment_sha256 !== expected) {
      fail(where + ": previous commitment_sha256 " + JSON.stringify(previous.commitment_sha256) +
        " is not " + name + "'s " + expected + " (that commitment was changed, or another one " +
        "was put in its place)");
    }
    if (c.total_cents < before.total_cents) {
      fail(where + ": total " + cents(c.total_cents) + " is lower than the previous " +
        cents(before.total_cents));
    }
    return where + ": names " + name + " (commitment " + previous.commitment_sha256.slice(0, 12) +
      "…), total " + cents(c.total_cents) + " (+" + cents(c.total_cents - before.total_cents) + ")";
  }
  /* {ok, passed, failure}: every link of the chain (base first), as verify.py's verify_chain. */
  function verifyChain(chain) {
    if (!Array.isArray(chain) || !chain.length) {
      return { ok: false, passed: [], failure: "chain: no commitment given" };
    }
    var passed = [];
    try {
      chain.forEach(function (c, sequence) {
        if (!isObject(c)) { fail(linkName(sequence) + ": not a JSON object"); }
        passed.push(checkLink(chain, sequence));
      });
    } catch (error) {
      if (error instanceof Failed) { return { ok: false, passed: passed, failure: error.message }; }
      return { ok: false, passed: passed, failure: "malformed input: " + error };
    }
    return { ok: true, passed: passed, failure: null };
  }
  /* What changed for the user at amendment `sequence`; returns [line, the bundle one link back]. */
  function checkChange(sequence, proof) {
    var where = linkName(sequence) + " change", change = obj(proof, "amendment", where);
    if (change.sequence !== sequence) {
      fail(where + ": sequence " + JSON.stringify(change.sequence) + ", expected " + sequence);
    }
    var amount = proof.amount_cents;
    var previous = int(change, "previous_cents", where, 0, amount);
    var topup = int(change, "topup_cents", where, 0);
    if (previous + topup !== amount) {
      fail(where + ": previous " + cents(previous) + " + top-up " + cents(topup) +
        " ≠ the proven cumulative " + cents(amount));
    }
    var earlier = change.previous_proof;
    if (earlier === null || earlier === undefined) {
      if (previous !== 0) { fail(where + ": previous amount " + cents(previous) + " comes without its proof"); }
      return [where + ": new payout, top-up " + cents(topup), null];
    }
    if (!isObject(earlier)) { fail(where + ": 'previous_proof' is not an object"); }
    if (earlier.user_id !== proof.user_id) {
      fail(where + ": previous_proof is user " + JSON.stringify(earlier.user_id) + "'s");
    }
    if (earlier.amount_cents !== previous) {
      fail(where + ": previous_proof proves " + JSON.stringify(earlier.amount_cents) +
        " cents, not previous_cents " + previous);
    }
    return [where + ": " + cents(previous) + " before, top-up " + cents(topup) + " (" +
      (change.change === undefined ? "unstated" : change.change) + ")", earlier];
  }
  /* A bundle from the last commitment of `chain` (base first), the chain, and what changed
   * for the user back to the base, as verify.py's verify_chain_proof. */
  function verifyChainProof(chain, proof) {
    var verdict = verifyChain(chain);
    if (!verdict.ok) { return verdict; }
    var passed = verdict.passed.slice();
    for (;;) {
      var where = linkName(chain.length - 1), checked = verifyProof(chain[chain.length - 1], proof);
      checked.passed.forEach(function (line) { passed.push(where + ": " + line); });
      if (!checked.ok) { return { ok: false, passed: passed, failure: where + ": " + checked.failure }; }
      if (chain.length === 1) { return { ok: true, passed: passed, failure: null }; }
      var step;
      try { step = checkChange(chain.length - 1, proof); } catch (error) {
        if (error instanceof Failed) { return { ok: false, passed: passed, failure: error.message }; }
        return { ok: false, passed: passed, failure: "malformed input: " + error };
      }
      passed.push(step[0]);
      if (step[1] === null) { return { ok: true, passed: passed, failure: null }; }
      chain = chain.slice(0, -1);
      proof = step[1];
    }
  }

  var api = { sha256: sha256, keccak256: keccak256, hex: hex, fromHex: fromHex,
    verifyProof: verifyProof, canonical: canonical, signedMessage: signedMessage,
    parsePublicKey: parsePublicKey, verifySignature: verifySignature, chainSha256: chainSha256,
    verifyChain: verifyChain, verifyChainProof: verifyChainProof };
  root.RecompenseVerify = api;
  if (typeof module !== "undefined" && module.exports) { module.exports = api; }

  // ---- the "Verify my payout" page ---------------------------------------------------
  if (typeof document === "undefined") { return; }
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("verifier");
    var button = document.getElementById("verify-button");
    if (!box || !button) { return; }
    var text = box.dataset;
    var result = document.getElementById("verify-result"), steps = document.getElementById("verify-steps");
    var panel = document.getElementById("checked-against");
    var keyBox = document.getElementById("publication-key"), keyInput = document.getElementById("public-key-input");
    var pasted = document.getElementById("commitment-text"), file = document.getElementById("commitment-file");
    var address = document.getElementById("commitment-url");
    function choose(value) {
      return function () { document.querySelector("input[name=commitment-source][value=" + value + "]").checked = true; };
    }
    pasted.addEventListener("input", choose("paste"));
    file.addEventListener("change", choose("file"));
    address.addEventListener("input", choose("url"));

    function show(state, message, lines) {
      result.dataset.state = state;
      result.textContent = message;
      steps.textContent = "";
      (lines || []).forEach(function (line) {
        var item = document.createElement("li");
        item.textContent = typeof line === "string" ? line : line.text;
        if (line.lang) { item.lang = line.lang; }  // a check's own words are English
        steps.appendChild(item);
      });
    }
    /* The steps that passed, in the page's language, from the checked files' fields
     * (templates in data-step-*, with {name} placeholders); figures as the page writes
     * them (Intl, the page's lang). The checks' own words (verifyProof) are English. */
    var lang = document.documentElement.lang || "en";
    var count = new Intl.NumberFormat(lang);
    var usd = new Intl.NumberFormat(lang, { style: "currency", currency: "USD" });
    function money(cents) {
      var v = BigInt(cents), sign = v < 0n ? "-" : "";
      if (v < 0n) { v = -v; }
      var text = (v / 100n).toString() + "." + (v % 100n).toString().padStart(2, "0");
      return usd.format(sign + text);  // a decimal string: exact, no float
    }
    function fill(template, values) {
      return template.replace(/\{(\w+)\}/g, function (all, name) {
        return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : all;
      });
    }
    function stepLines(c, p, passed) {
      var run = function () { return String(c.manifest_sha256).slice(0, 12) + "…"; };
      var values = [  // step i's values: read only once step i has passed (fields checked)
        function () {
          return { program: c.program_id, run: run(), users: count.format(BigInt(c.users)),
            total: money(c.total_cents) };
        },
        function () { return { run: run() }; },
        function () { return { user: p.user_id, hash: String(p.user_hash).slice(0, 16) + "…" }; },
        function () {
          return { amount: money(p.amount_cents), levels: count.format(c.sum_tree.depth),
            total: money(c.total_cents) };
        },
        function () { return { units: count.format(BigInt(p.amount_cents) * UNITS_PER_CENT) }; },
        function () {
          return { hashes: count.format(p.standard_tree.proof.length),
            root: String(c.standard_tree.root).slice(0, 18) + "…" };
        }
      ];
      var names = ["stepCommitment", "stepProof", "stepUserHash", "stepSumTree", "stepStandardValue",
        "stepStandardTree"];
      return passed.map(function (english, i) {
        var template = box.dataset[names[i]];
        return template ? "✔ " + fill(template, values[i]()) : { text: "✔ " + english, lang: "en" };
      });
    }
    function fetchJson(url, options) {
      return fetch(url, options).then(function (response) {
        if (!response.ok) { throw new Error(url + ": HTTP " + response.status); }
        return response.json();
      });
    }
    function parse(body, what) {
      try { return JSON.parse(body); } catch (error) { throw new Error(what + " is not JSON: " + error.message); }
    }
    /* Promise of {data, label}: the commitment from the source the user chose. */
    function commitment() {
      var source = document.querySelector("input[name=commitment-source]:checked").value;
      if (source === "paste") {
        return Promise.resolve({ data: parse(pasted.value, "the pasted commitment"), label: text.textSourcePaste });
      }
      if (source === "file") {
        var chosen = file.files && file.files[0];
        if (!chosen) { return Promise.reject(new Error("no commitment file chosen")); }
        return chosen.text().then(function (body) {
          return { data: parse(body, chosen.name), label: text.textSourceFile.replace("{name}", chosen.name) };
        });
      }
      if (source === "url") {
        var url = address.value.trim();
        if (!/^https?:\/\//.test(url)) { return Promise.reject(new Error("give the commitment's address (https://…)")); }
        var options = { credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" };
        return fetchJson(url, options).then(function (data) {
          return { data: data, label: text.textSourceUrl.replace("{url}", url) };
        }, function (error) {
          throw new Error(url + ": cannot fetch it (" + error.message + "); does the address allow other sites to read it (CORS)?");
        });
      }
      return fetchJson(text.commitmentUrl, { credentials: "same-origin" }).then(function (data) {
        return { data: data, label: text.textSourceServer + " (" + text.commitmentUrl + ")" };
      });
    }
    function publicKey() {
      var value = keyInput.value.trim();
      if (!value) { return null; }
      var key;
      try { key = parsePublicKey(value); } catch (error) { throw new Error("the public key: " + error.message); }
      if (!key.keyId && keyBox.dataset.key === hex(key.raw)) { key.keyId = keyBox.dataset.keyId; }
      return key;
    }
    function field(value) {
      return value === undefined || value === null || typeof value === "object" ? "—" : String(value);
    }
    function describe(source, c, signature) {
      var set = function (id, value) { panel.querySelector("[data-testid=" + id + "]").textContent = value; };
      var trees = isObject(c) ? c : {};
      set("checked-source", source);
      set("checked-key-id", field(signature.keyId));
      set("checked-program", field(trees.program_id));
      set("checked-run", field(trees.manifest_sha256));
      set("checked-users", field(trees.users));
      set("checked-total", field(trees.total_cents));
      set("checked-sum-root", field(isObject(trees.sum_tree) ? trees.sum_tree.root : null));
      set("checked-standard-root", field(isObject(trees.standard_tree) ? trees.standard_tree.root : null));
      var cell = panel.querySelector("[data-testid=checked-signature]");
      var names = { valid: text.textSigValid, invalid: text.textSigInvalid, unsigned: text.textSigUnsigned,
        unchecked: text.textSigUnchecked };
      cell.dataset.state = signature.status;
      cell.textContent = names[signature.status];
      var detail = document.createElement("small");
      detail.className = "muted";
      detail.dataset.testid = "checked-signature-detail";
      detail.textContent = signature.detail;
      cell.appendChild(document.createElement("br"));
      cell.appendChild(detail);
      panel.hidden = false;
    }
    button.addEventListener("click", function () {
      button.disabled = true;
      panel.hidden = true;
      show("running", text.textRunning);
      Promise.resolve()
        .then(function () {
          var key = publicKey();
          var proof = fetchJson(box.dataset.proofUrl, { credentials: "same-origin" });
          var chain = text.commitmentsUrl ?
            fetchJson(text.commitmentsUrl, { credentials: "same-origin" }) : Promise.resolve(null);
          return Promise.all([commitment(), proof, chain]).then(function (files) {
            return verifySignature(files[0].data, key).then(function (signature) {
              describe(files[0].label, files[0].data, signature);
              var verdict, lines;
              if (Array.isArray(files[2]) && files[2].length > 1) {
                /* The commitment checked stands last; the server's earlier links are
                 * bound to it by the hashes it names (and so by its signature). */
                var links = files[2].slice(0, -1).concat([files[0].data]);
                verdict = verifyChainProof(links, files[1]);
                lines = [fill(text.textChain, { n: count.format(links.length) })].concat(
                  verdict.passed.map(function (english) { return { text: "✔ " + english, lang: "en" }; }));
                if (!verdict.ok) { lines = lines.slice(1); }
              } else {
                verdict = verifyProof(files[0].data, files[1]);
                lines = stepLines(files[0].data, files[1], verdict.passed);
              }
              if (!verdict.ok) {
                show("fail", text.textFail + ": " + verdict.failure,
                  lines.concat([{ text: "✘ " + verdict.failure, lang: "en" }]));
              } else if (signature.status === "invalid") {
                show("fail", text.textFail + ": " + signature.detail, lines);
              } else if (signature.status !== "valid") {
                show("unsigned", text.textUnsigned + ": " + signature.detail, lines);
              } else {
                show("ok", text.textOk, lines);
              }
            });
          });
        })
        .catch(function (error) { show("fail", text.textFail + ": " + error.message); })
        .then(function () { button.disabled = false; });
    });
  });
})(typeof window !== "undefined" ? window : globalThis);
