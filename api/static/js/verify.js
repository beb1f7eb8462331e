/* /verify: read a service code from the camera and submit it.
   Decoder: the browser's BarcodeDetector when it reads QR codes (Chrome on Android, macOS,
   ChromeOS), otherwise zxing-wasm (vendored in /static/vendor/zxing-wasm, loaded on first use).
   Nothing leaves the device but the decoded code, posted to /verify like a pasted one. */
(function () {
  "use strict";
  var box = document.getElementById("camera");
  if (!box) { return; }
  var form = document.getElementById("verify-form");
  var start = document.getElementById("scan");
  var stop = document.getElementById("scan-stop");
  var video = document.getElementById("video");
  var frame = document.getElementById("frame");
  var idle = document.getElementById("idle");
  var status = document.getElementById("scan-status");
  var base = box.getAttribute("data-decoder-base");
  var stream = null, timer = null, detect = null, busy = false, done = false;

  function send() {
    // the form has a button named "submit", which hides form.submit
    HTMLFormElement.prototype.submit.call(form);
  }

  function say(zh, en) {
    status.textContent = "";
    status.appendChild(document.createTextNode(zh + " "));
    var span = document.createElement("span");
    span.className = "en";
    span.textContent = en;
    status.appendChild(span);
  }

  // a chosen photo is verified at once (the server decodes it)
  var photo = document.getElementById("photo");
  if (photo) {
    photo.addEventListener("change", function () {
      if (photo.files && photo.files.length) {
        document.getElementById("via").value = "photo";
        send();
      }
    });
  }
  var result = document.getElementById("verdict");
  if (result) { result.focus(); }

  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say("此浏览器或此连接不能使用摄像头（需要 HTTPS），请上传照片或粘贴服务码。",
        "The camera is not available here (it needs HTTPS); upload a photo or paste the code.");
    return;
  }
  start.disabled = false;
  say("点击“打开摄像头”，允许使用摄像头后对准二维码。", "Open the camera, allow it, and point it at the QR code.");

  function nativeDetector() {
    if (!("BarcodeDetector" in window) || typeof window.BarcodeDetector.getSupportedFormats !== "function") {
      return Promise.resolve(null);
    }
    return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      if (formats.indexOf("qr_code") < 0) { return null; }
      var detector = new window.BarcodeDetector({formats: ["qr_code"]});
      box.setAttribute("data-decoder", "BarcodeDetector");
      return function (source) {
        return detector.detect(source).then(function (found) {
          return found.map(function (b) { return b.rawValue; });
        });
      };
    }, function () { return null; });
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = function () { reject(new Error("cannot load " + src)); };
      document.head.appendChild(s);
    });
  }

  function wasmDetector() {
    return loadScript(base + "zxing-reader.js").then(function () {
      var Z = window.ZXingWASM;
      Z.prepareZXingModule({
        overrides: {
          locateFile: function (path, prefix) { return /\.wasm$/.test(path) ? base + path : prefix + path; }
        },
        fireImmediately: true
      });
      var canvas = document.createElement("canvas");
      var ctx = canvas.getContext("2d", {willReadFrequently: true});
      var options = {formats: ["QRCode"], tryHarder: true, maxNumberOfSymbols: 1};
      box.setAttribute("data-decoder", "zxing-wasm");
      return function (source) {
        var w = source.videoWidth, h = source.videoHeight;
        if (!w || !h) { return Promise.resolve([]); }
        var scale = Math.min(1, 1280 / Math.max(w, h));
        canvas.width = Math.round(w * scale);
        canvas.height = Math.round(h * scale);
        ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
        return Z.readBarcodes(ctx.getImageData(0, 0, canvas.width, canvas.height), options).then(function (found) {
          return found.filter(function (r) { return r.isValid; }).map(function (r) { return r.text; });
        });
      };
    });
  }

  function halt() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    video.hidden = true; frame.hidden = true; idle.hidden = false;
    stop.hidden = true; start.disabled = false;
  }

  function tick() {
    timer = null;
    if (!stream || done) { return; }
    if (busy || video.readyState < 2) { timer = setTimeout(tick, 150); return; }
    busy = true;
    detect(video).then(function (texts) {
      busy = false;
      var hit = texts.filter(function (t) { return /^TS1:/i.test(t.trim()); })[0];
      if (hit) {
        done = true;
        document.getElementById("code").value = hit.trim();
        document.getElementById("via").value = "camera:" + (box.getAttribute("data-decoder") || "");
        box.setAttribute("data-scanned", "true");
        say("已识别，正在核验…", "Code read; verifying…");
        halt();
        send();
        return;
      }
      if (texts.length) { say("这不是电子证照服务码，请换一个二维码。", "That QR code is not a licence service code."); }
      timer = setTimeout(tick, 200);
    }, function (err) {
      busy = false;
      box.setAttribute("data-error", String(err));
      timer = setTimeout(tick, 400);
    });
  }

  start.addEventListener("click", function () {
    start.disabled = true;
    say("正在打开摄像头…", "Opening the camera…");
    var decoder = detect ? Promise.resolve(detect) : nativeDetector().then(function (d) { return d || wasmDetector(); });
    var camera = navigator.mediaDevices.getUserMedia({video: {facingMode: {ideal: "environment"}}, audio: false});
    Promise.all([decoder, camera]).then(function (both) {
      detect = both[0];
      stream = both[1];
      video.srcObject = stream;
      video.hidden = false; frame.hidden = false; idle.hidden = true; stop.hidden = false;
      return video.play();
    }).then(function () {
      say("对准二维码，保持稳定…", "Point at the QR code and hold steady…");
      tick();
    }).catch(function (err) {
      halt();
      var name = err && err.name;
      if (name === "NotAllowedError" || name === "SecurityError") {
        say("没有获得摄像头权限。请在浏览器设置中允许，或上传照片。", "Camera permission was refused; allow it, or upload a photo.");
      } else if (name === "NotFoundError" || name === "OverconstrainedError") {
        say("没有找到摄像头，请上传照片或粘贴服务码。", "No camera found; upload a photo or paste the code.");
      } else {
        say("无法启动扫码：" + (err && err.message ? err.message : err), "The scanner could not start.");
      }
    });
  });
  stop.addEventListener("click", function () {
    halt();
    say("已停止。", "Stopped.");
  });
}());
