// Upload with a progress bar; show the server-computed SHA-256 and keccak-256 at the end.
// Without JavaScript the form posts normally.
import { csrfToken, showStatus } from "./wallet.js";

function upload(form) {
  const bar = form.querySelector("[data-upload-progress]");
  const status = form.querySelector("[data-upload-status]");
  const xhr = new XMLHttpRequest();
  xhr.open("POST", form.dataset.api);
  xhr.setRequestHeader("X-CSRFToken", csrfToken());
  xhr.setRequestHeader("Accept", "application/json");
  xhr.upload.addEventListener("progress", (e) => {
    if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
  });
  xhr.addEventListener("load", () => {
    let data = {};
    try {
      data = JSON.parse(xhr.responseText);
    } catch {
      data = { detail: `The server answered ${xhr.status}.` };
    }
    if (xhr.status === 201) {
      bar.value = 100;
      showStatus(status, `Uploaded. SHA-256 ${data.sha256} · keccak-256 ${data.keccak256}. State: ${data.state}.`, "ok");
      const link = document.createElement("a");
      link.href = data.page;
      link.textContent = " See my contributions";
      status.append(link);
    } else {
      showStatus(status, data.detail || data.error || "Upload refused.");
    }
    form.querySelector("button[type=submit]").disabled = false;
  });
  xhr.addEventListener("error", () => {
    showStatus(status, "The upload was interrupted.");
    form.querySelector("button[type=submit]").disabled = false;
  });
  bar.hidden = false;
  bar.value = 0;
  form.querySelector("button[type=submit]").disabled = true;
  showStatus(status, "Uploading…", "info");
  xhr.send(new FormData(form));
}

for (const form of document.querySelectorAll("[data-upload-form]")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    upload(form);
  });
}
