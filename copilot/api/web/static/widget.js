/*
 * CRM Copilot widget. On a host CRM page:
 *   <div id="copilot"></div>   (optional: where to mount; default right after the script)
 *   <script src="https://copilot.example/widget.js" data-object-type="opportunity" data-object-id="1"
 *           data-assertion="<HS256 JWT from the host's server>" data-target="#copilot"></script>
 * Mounts the copilot panel for that record in an iframe served by the copilot (its own origin, so the
 * host page's styles and scripts cannot touch it). The assertion is posted to the frame, never put in a URL.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var origin = new URL(script.src, location.href).origin;
  var type = script.getAttribute("data-object-type") || "";
  var id = script.getAttribute("data-object-id") || "";
  var assertion = script.getAttribute("data-assertion") || "";
  var target = script.getAttribute("data-target");
  var height = script.getAttribute("data-height") || "640px";

  var frame = document.createElement("iframe");
  var query = new URLSearchParams();
  if (type && id) { query.set("object_type", type); query.set("object_id", id); }
  frame.src = origin + "/embed?" + query.toString();
  frame.title = "CRM Copilot";
  frame.setAttribute("data-testid", "copilot-widget");
  frame.style.cssText = "width:100%;min-width:320px;height:" + height + ";border:1px solid #d0d7de;border-radius:8px;background:#fff";

  window.addEventListener("message", function (event) {
    if (event.origin !== origin || event.source !== frame.contentWindow) return;
    var data = event.data || {};
    if (data.type === "copilot:hello") {
      // Sent only to the copilot's origin: no other frame can read the assertion.
      frame.contentWindow.postMessage({ type: "copilot:assertion", assertion: assertion }, origin);
    } else if (data.type === "copilot:error" || data.type === "copilot:ready") {
      frame.dispatchEvent(new CustomEvent(data.type, { detail: data, bubbles: true }));
    }
  });

  var mount = target ? document.querySelector(target) : null;
  if (mount) mount.appendChild(frame);
  else script.parentNode.insertBefore(frame, script.nextSibling);
})();
