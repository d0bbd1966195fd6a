// Heartline's form check: find a number n so that SHA-256("<form_token>:<n>")
// starts with the page's number of zero bits, and put it in the hidden "pow"
// field.  It runs while the resident types; nothing leaves the page.
(function () {
  "use strict";
  var K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2];

  function utf8(text) {
    return Array.prototype.slice.call(new TextEncoder().encode(text));
  }

  function sha256(bytes) {
    var h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var length = bytes.length * 8, m = bytes.slice(), w = new Array(64), i, j;
    m.push(0x80);
    while (m.length % 64 !== 56) m.push(0);
    for (i = 7; i >= 0; i--) m.push(i > 3 ? 0 : (length >>> (i * 8)) & 0xff);
    for (i = 0; i < m.length; i += 64) {
      for (j = 0; j < 16; j++) {
        w[j] = (m[i + 4 * j] << 24) | (m[i + 4 * j + 1] << 16) | (m[i + 4 * j + 2] << 8) | m[i + 4 * j + 3];
      }
      for (j = 16; j < 64; j++) {
        var a = w[j - 15], b = w[j - 2];
        var s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
        var s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
        w[j] = (w[j - 16] + s0 + w[j - 7] + s1) | 0;
      }
      var x = h.slice();
      for (j = 0; j < 64; j++) {
        var e = x[4], f = x[0];
        var t1 = (x[7] + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7)))
          + ((e & x[5]) ^ (~e & x[6])) + K[j] + w[j]) | 0;
        var t2 = ((((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10)))
          + ((f & x[1]) ^ (f & x[2]) ^ (x[1] & x[2]))) | 0;
        x = [(t1 + t2) | 0, x[0], x[1], x[2], (x[3] + t1) | 0, x[4], x[5], x[6]];
      }
      for (j = 0; j < 8; j++) h[j] = (h[j] + x[j]) | 0;
    }
    return h;
  }

  function leadingZeros(words, bits) {
    for (var i = 0; i < words.length && bits > 0; i++, bits -= 32) {
      var take = Math.min(bits, 32);
      if ((words[i] >>> (32 - take)) !== 0) return false;
    }
    return true;
  }

  var form = document.querySelector("form[data-pow-bits]");
  if (!form) return;
  var token = form.querySelector('input[name="form_token"]').value;
  var answer = form.querySelector('input[name="pow"]');
  var bits = parseInt(form.getAttribute("data-pow-bits"), 10) || 0;
  var counter = 0, done = false, waiting = false;

  function work() {
    for (var n = 0; n < 2000; n++, counter++) {
      if (leadingZeros(sha256(utf8(token + ":" + counter)), bits)) {
        answer.value = String(counter);
        done = true;
        if (waiting) form.submit();
        return;
      }
    }
    setTimeout(work, 0);
  }

  form.addEventListener("submit", function (event) {
    if (!done) {
      event.preventDefault();
      waiting = true;
    }
  });
  work();
})();
