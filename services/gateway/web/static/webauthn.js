/* Security keys and passkeys (WebAuthn) for the sign-in, step-up, set-up and security pages.
 *
 * Each page marks a block with data-webauthn="register" or "authenticate", data-next (where to go
 * afterwards, a path of ours the server checked) and data-csrf (the session's CSRF token). The block
 * stays hidden where the browser has no WebAuthn, so the page works without it. The options come from
 * the JSON API as JSON with base64url fields; the browser wants ArrayBuffers, so they are converted
 * both ways here. No inline script: the pages' CSP allows scripts from Haven only.
 */
(function () {
  "use strict";

  function toBuffer(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var text = atob(base64);
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) { bytes[i] = text.charCodeAt(i); }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var text = "";
    for (var i = 0; i < bytes.length; i++) { text += String.fromCharCode(bytes[i]); }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function post(path, csrf, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(typeof data.detail === "string" ? data.detail :
            "Haven could not finish that (" + response.status + "). Try again.");
          error.fromServer = true;
          throw error;
        }
        return data;
      });
    });
  }

  function descriptors(list) {
    return (list || []).map(function (c) {
      return {type: c.type, id: toBuffer(c.id), transports: c.transports};
    });
  }

  function register(block, csrf) {
    var nameBox = document.querySelector("[data-webauthn-name]");
    return post("/api/v1/session/webauthn/register/options", csrf).then(function (options) {
      options.challenge = toBuffer(options.challenge);
      options.user.id = toBuffer(options.user.id);
      options.excludeCredentials = descriptors(options.excludeCredentials);
      return navigator.credentials.create({publicKey: options});
    }).then(function (credential) {
      var response = credential.response;
      return post("/api/v1/session/webauthn/register", csrf, {
        name: nameBox && nameBox.value.trim() ? nameBox.value.trim() : "Security key",
        credential: {
          id: credential.id,
          rawId: toBase64url(credential.rawId),
          type: credential.type,
          authenticatorAttachment: credential.authenticatorAttachment || undefined,
          clientExtensionResults: credential.getClientExtensionResults(),
          response: {
            clientDataJSON: toBase64url(response.clientDataJSON),
            attestationObject: toBase64url(response.attestationObject),
            transports: response.getTransports ? response.getTransports() : []
          }
        }
      });
    });
  }

  function authenticate(block, csrf) {
    return post("/api/v1/session/webauthn/authenticate/options", csrf).then(function (options) {
      options.challenge = toBuffer(options.challenge);
      options.allowCredentials = descriptors(options.allowCredentials);
      return navigator.credentials.get({publicKey: options});
    }).then(function (credential) {
      var response = credential.response;
      return post("/api/v1/session/webauthn/authenticate", csrf, {
        credential: {
          id: credential.id,
          rawId: toBase64url(credential.rawId),
          type: credential.type,
          authenticatorAttachment: credential.authenticatorAttachment || undefined,
          clientExtensionResults: credential.getClientExtensionResults(),
          response: {
            clientDataJSON: toBase64url(response.clientDataJSON),
            authenticatorData: toBase64url(response.authenticatorData),
            signature: toBase64url(response.signature),
            userHandle: response.userHandle ? toBase64url(response.userHandle) : null
          }
        }
      });
    });
  }

  function showCodes(codes, next) {
    var panel = document.querySelector("[data-webauthn-codes]");
    if (!panel) { window.location.assign(next); return; }
    var list = panel.querySelector("[data-webauthn-code-list]");
    codes.forEach(function (code) {
      var item = document.createElement("li");
      var text = document.createElement("code");
      text.textContent = code;
      item.appendChild(text);
      list.appendChild(item);
    });
    panel.hidden = false;
    panel.focus();
  }

  function start(block) {
    var status = block.querySelector("[data-webauthn-status]");
    var button = block.querySelector("[data-webauthn-start]");
    var next = block.getAttribute("data-next") || "/";
    var csrf = block.getAttribute("data-csrf") || "";
    var action = block.getAttribute("data-webauthn");
    button.addEventListener("click", function () {
      button.disabled = true;
      status.textContent = "Follow your browser's instructions to use your security key…";
      var ceremony = action === "register" ? register(block, csrf) : authenticate(block, csrf);
      ceremony.then(function (result) {
        status.textContent = "Done.";
        if (result && result.recovery_codes && result.recovery_codes.length) {
          showCodes(result.recovery_codes, next);
        } else {
          window.location.assign(next);
        }
      }).catch(function (error) {
        button.disabled = false;
        status.textContent = error && error.fromServer ? error.message :
          "The security key was not used (cancelled or timed out). Try again, or use another way.";
      });
    });
  }

  function init() {
    if (!window.PublicKeyCredential || !navigator.credentials) { return; }
    var blocks = document.querySelectorAll("[data-webauthn]");
    for (var i = 0; i < blocks.length; i++) {
      blocks[i].hidden = false;
      start(blocks[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
