/* The register-client page: signature pad, photo preview, "referred by" lookup.
 * The server checks everything again; this only makes the desk faster. */
(function () {
  "use strict";

  function setUpSignature() {
    var canvas = document.getElementById("signature-pad");
    var hidden = document.getElementById("signature");
    if (!canvas || !hidden || !window.SignaturePad) {
      return;
    }
    var pad = new window.SignaturePad(canvas, {penColor: "#111", minWidth: 1, maxWidth: 3});

    // The canvas is drawn in device pixels so strokes stay sharp on a tablet; a
    // resize clears it, so the last signature (kept in the hidden field) is redrawn.
    function resize() {
      var ratio = Math.max(window.devicePixelRatio || 1, 1);
      canvas.width = canvas.offsetWidth * ratio;
      canvas.height = canvas.offsetHeight * ratio;
      canvas.getContext("2d").scale(ratio, ratio);
      pad.clear();
      if (hidden.value) {
        pad.fromDataURL(hidden.value, {ratio: ratio, width: canvas.offsetWidth,
                                       height: canvas.offsetHeight});
      }
    }

    pad.addEventListener("endStroke", function () {
      hidden.value = pad.toDataURL("image/png");
      document.getElementById("signature-empty").classList.remove("d-block");
    });
    document.getElementById("signature-clear").addEventListener("click", function () {
      pad.clear();
      hidden.value = "";
    });
    document.getElementById("register-form").addEventListener("submit", function (event) {
      if (!hidden.value) {
        event.preventDefault();
        document.getElementById("signature-empty").classList.add("d-block");
        canvas.scrollIntoView({block: "center"});
      }
    });
    window.addEventListener("resize", resize);
    resize();
  }

  function setUpPhotoPreview() {
    var input = document.getElementById("photo");
    var preview = document.getElementById("photo-preview");
    if (!input || !preview) {
      return;
    }
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (file && file.type.indexOf("image/") === 0) {
        preview.src = URL.createObjectURL(file);
        preview.classList.remove("d-none");
      } else {
        preview.classList.add("d-none");
      }
    });
  }

  function setUpReferrerLookup() {
    var input = document.getElementById("referred_by_phone");
    var shown = document.getElementById("referrer-name");
    if (!input || !shown) {
      return;
    }
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var phone = input.value.trim();
      if (phone.replace(/\D/g, "").length < 10) {
        shown.textContent = "";
        return;
      }
      timer = setTimeout(function () {
        var url = input.dataset.lookupUrl + "?phone=" + encodeURIComponent(phone);
        fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
          .then(function (response) { return response.ok ? response.json() : {found: false}; })
          .then(function (answer) {
            shown.textContent = answer.found ? answer.name : input.dataset.notFound;
          })
          .catch(function () { shown.textContent = ""; });
      }, 300);
    });
  }

  setUpSignature();
  setUpPhotoPreview();
  setUpReferrerLookup();
}());
