// Drives a homeserver's media repository with matrix-js-sdk as Element Web does: the upload
// limit, an upload, the authenticated download and thumbnail URLs the SDK builds (fetched
// with the access token, as Element's service worker does), an infected upload refused, and a
// link preview.
// Input: baseUrl, user, password, file (base64), infected (base64), previewUrl.
import { answer, client, input, login } from "./session.mjs";

const out = {};
const config = await client.getMediaConfig(true);
out.uploadLimit = config["m.upload.size"];

const file = Buffer.from(input.file, "base64");
const uploaded = await client.uploadContent(file, { name: "red.png", type: "image/png" });
out.contentUri = uploaded.content_uri;

const fetchAuthenticated = async (url) => {
  const response = await fetch(url, { headers: { Authorization: `Bearer ${login.access_token}` } });
  return { status: response.status, type: response.headers.get("content-type"), bytes: Buffer.from(await response.arrayBuffer()) };
};
const downloadUrl = client.mxcUrlToHttp(uploaded.content_uri, undefined, undefined, undefined, false, true, true);
out.downloadUrl = downloadUrl;
const download = await fetchAuthenticated(downloadUrl);
out.downloadStatus = download.status;
out.downloadEqual = download.bytes.equals(file);
const thumbnailUrl = client.mxcUrlToHttp(uploaded.content_uri, 16, 16, "crop", false, true, true);
const thumbnail = await fetchAuthenticated(thumbnailUrl);
out.thumbnailStatus = thumbnail.status;
out.thumbnailType = thumbnail.type;
out.thumbnail = thumbnail.bytes.toString("base64");

try {
  await client.uploadContent(Buffer.from(input.infected, "base64"), { name: "eicar.com", type: "application/octet-stream" });
  out.infected = "accepted";
} catch (error) {
  out.infected = { status: error.httpStatus, errcode: error.errcode, message: error.data?.error };
}
out.preview = await client.getUrlPreview(input.previewUrl, Date.now());
answer(out);
