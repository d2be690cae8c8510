#!/usr/bin/env python3
"""A local stand-in for the Hugging Face hub and ModelScope, for tests that must not leave the machine.

Serves model folders under both hubs' public URL and JSON layouts:

Hugging Face hub
  GET /api/models/{org}/{name}[/revision/{revision}][?blobs=true]
      {"id", "sha", "siblings": [{"rfilename", "size", "blobId", "lfs": {"sha256", "size", "pointerSize"}}]}
  GET|HEAD /{org}/{name}/resolve/{revision}/{path}
      small files directly, *.safetensors (LFS) by a 302 to /cdn-lfs/..., with X-Repo-Commit, ETag,
      X-Linked-Etag and X-Linked-Size; errors carry X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound,
      GatedRepo). Token: "Authorization: Bearer TOKEN".
ModelScope
  GET /api/v1/models/{org}/{name}/repo/files?Revision=R&Recursive=true
      {"Code": 200, "Success": true, "Data": {"Files": [{"Name", "Path", "Type", "Size", "Sha256", "IsLFS"}]}}
  GET /api/v1/models/{org}/{name}/repo?Revision=R&FilePath=P
  Token: cookie "m_session_id=TOKEN".

File bodies honour "Range: bytes=START-[END]" (206/416). Switches make failures happen on purpose: --cut-once
PATH (the first GET of PATH sends half its bytes, then drops the connection), --stall PATH (sends half, then
hangs), --bad-sha256 PATH (the listings advertise a wrong digest), --gated ID with --token (401 without the
token, 403 with a wrong one), --rate (bytes per second per file transfer). Unknown ids get 404. Every request is
appended to --log as one JSON line. Standard library only.
"""

import argparse
import hashlib
import http.server
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse

CHUNK = 64 * 1024


class RepoFile:
    def __init__(self, folder, path):
        self.path = path
        with open(os.path.join(folder, path), "rb") as f:
            self.data = f.read()
        self.size = len(self.data)
        self.sha256 = hashlib.sha256(self.data).hexdigest()
        self.git_sha1 = hashlib.sha1(b"blob %d\0" % self.size + self.data).hexdigest()
        self.lfs = path.endswith(".safetensors")


class Repo:
    def __init__(self, model_id, folder):
        self.id = model_id
        self.files = {}
        for dirpath, _, names in os.walk(folder):
            for name in names:
                rel = os.path.relpath(os.path.join(dirpath, name), folder).replace(os.sep, "/")
                self.files[rel] = RepoFile(folder, rel)
        digest = hashlib.sha1()
        for path in sorted(self.files):
            digest.update(("%s %s\n" % (path, self.files[path].git_sha1)).encode())
        self.commit = digest.hexdigest()


class Hub:
    def __init__(self, args):
        self.args = args
        self.repos = {}
        for spec in args.model:
            model_id, folder = spec.split("=", 1)
            self.repos[model_id] = Repo(model_id, folder)
        self.cut_pending = set(args.cut_once)
        self.lock = threading.Lock()
        self.log = open(args.log, "a") if args.log else None

    def record(self, entry):
        if self.log is None:
            return
        with self.lock:
            self.log.write(json.dumps(entry) + "\n")
            self.log.flush()

    def take_cut(self, path):
        with self.lock:
            if path in self.cut_pending:
                self.cut_pending.discard(path)
                return True
        return False

    def advertised_sha256(self, f):
        if f.path in self.args.bad_sha256:
            return hashlib.sha256(f.data + b"tampered").hexdigest()
        return f.sha256

    def advertised_git_sha1(self, f):
        if f.path in self.args.bad_sha256:
            return hashlib.sha1(f.data + b"tampered").hexdigest()
        return f.git_sha1


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tessera-test-hub"

    def log_message(self, fmt, *args):  # the JSON log replaces stderr chatter
        pass

    # --- plumbing -------------------------------------------------------------------------------------------
    def finish_request_log(self, status, sent=0):
        self.server.hub.record({"method": self.command, "path": self.path, "range": self.headers.get("Range"),
                                "status": status, "bytes": sent})

    def send_json(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.finish_request_log(status, len(data))

    def hf_error(self, status, code, message):
        self.send_json(status, {"error": message}, [("X-Error-Code", code), ("X-Error-Message", message)])

    def ms_error(self, status, message):
        self.send_json(status, {"Code": 10010205001 if status == 404 else status, "Message": message,
                                "RequestId": "test", "Success": False})

    def authorized(self, repo, hub_kind):
        """None when the request may proceed, else (status, reason)."""
        if repo.id not in self.server.hub.args.gated:
            return None
        expected = self.server.hub.args.token
        if hub_kind == "hf":
            header = self.headers.get("Authorization", "")
            given = header[len("Bearer "):] if header.startswith("Bearer ") else None
        else:
            given = None
            for part in self.headers.get("Cookie", "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == "m_session_id":
                    given = value
        if given is None:
            return 401, "Access to model %s is restricted. You must be authenticated to access it." % repo.id
        if given != expected:
            return 403, "Access to model %s is restricted and you are not in the authorized list." % repo.id
        return None

    def send_file(self, f, extra_headers=()):
        start, end = 0, f.size - 1
        status = 200
        header = self.headers.get("Range")
        if header and header.startswith("bytes="):
            first, _, last = header[len("bytes="):].partition("-")
            start = int(first) if first else 0
            if last:
                end = min(int(last), f.size - 1)
            if start >= f.size:
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % f.size)
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.finish_request_log(416)
                return
            status = 206
        length = end - start + 1 if f.size else 0
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, f.size))
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            self.finish_request_log(status)
            return
        hub = self.server.hub
        body = f.data[start:end + 1]
        limit = len(body)
        cut = hub.take_cut(f.path)
        stall = f.path in hub.args.stall
        if cut or stall:
            limit = len(body) // 2
        sent = 0
        try:
            while sent < limit:
                piece = body[sent:min(sent + CHUNK, limit)]
                self.wfile.write(piece)
                sent += len(piece)
                if hub.args.rate:
                    time.sleep(len(piece) / hub.args.rate)
            self.wfile.flush()
            if stall:
                self.finish_request_log(status, sent)
                time.sleep(hub.args.stall_seconds)
                self.close_connection = True
                return
            if cut:
                self.finish_request_log(status, sent)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True
        self.finish_request_log(status, sent)

    # --- routing --------------------------------------------------------------------------------------------
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        parts = url.path.split("/")[1:]  # still percent-encoded, so a revision "refs%2Fpr%2F1" stays one part
        try:
            if parts[:3] == ["api", "v1", "models"]:
                return self.modelscope(parts[3:], query)
            if parts[:2] == ["api", "models"]:
                return self.hf_api(parts[2:])
            if parts[:1] == ["cdn-lfs"]:
                return self.hf_cdn(parts[1:])
            if len(parts) >= 4 and parts[2] == "resolve":
                return self.hf_resolve(parts)
        except (BrokenPipeError, ConnectionResetError):
            return
        self.send_json(404, {"error": "Not Found"})

    def hf_repo(self, org, name):
        repo = self.server.hub.repos.get("%s/%s" % (urllib.parse.unquote(org), urllib.parse.unquote(name)))
        if repo is None:
            self.hf_error(404, "RepoNotFound", "Repository not found")
            return None
        denied = self.authorized(repo, "hf")
        if denied:
            self.hf_error(denied[0], "GatedRepo", denied[1])
            return None
        return repo

    def hf_revision_ok(self, repo, revision):
        if revision in ("main", repo.commit):
            return True
        self.hf_error(404, "RevisionNotFound", "Invalid rev id: %s" % revision)
        return False

    def hf_api(self, parts):
        if len(parts) < 2:
            return self.send_json(404, {"error": "Not Found"})
        repo = self.hf_repo(parts[0], parts[1])
        if repo is None:
            return
        revision = "main"
        if len(parts) >= 4 and parts[2] == "revision":
            revision = urllib.parse.unquote("/".join(parts[3:]))
        if not self.hf_revision_ok(repo, revision):
            return
        siblings = []
        for f in sorted(repo.files.values(), key=lambda f: f.path):
            entry = {"rfilename": f.path, "size": f.size, "blobId": self.server.hub.advertised_git_sha1(f)}
            if f.lfs:
                entry["lfs"] = {"sha256": self.server.hub.advertised_sha256(f), "size": f.size, "pointerSize": 134}
            siblings.append(entry)
        self.send_json(200, {"_id": repo.commit[:24], "id": repo.id, "modelId": repo.id, "sha": repo.commit,
                             "private": False, "gated": repo.id in self.server.hub.args.gated and "manual",
                             "disabled": False, "tags": [], "siblings": siblings})

    def hf_resolve(self, parts):
        repo = self.hf_repo(parts[0], parts[1])
        if repo is None:
            return
        revision = urllib.parse.unquote(parts[3])
        if not self.hf_revision_ok(repo, revision):
            return
        path = urllib.parse.unquote("/".join(parts[4:]))
        f = repo.files.get(path)
        if f is None:
            return self.hf_error(404, "EntryNotFound", "Entry not found")
        common = [("X-Repo-Commit", repo.commit)]
        if f.lfs:
            common += [("X-Linked-Etag", '"%s"' % f.sha256), ("X-Linked-Size", str(f.size)),
                       ("ETag", '"%s"' % f.git_sha1)]
            location = "/cdn-lfs/%s/%s/%s?expires=never" % (parts[0], parts[1], f.sha256)
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            for name, value in common:
                self.send_header(name, value)
            self.end_headers()
            return self.finish_request_log(302)
        self.send_file(f, common + [("ETag", '"%s"' % f.git_sha1)])

    def hf_cdn(self, parts):
        if len(parts) != 3:
            return self.send_json(404, {"error": "Not Found"})
        repo = self.server.hub.repos.get("%s/%s" % (parts[0], parts[1]))
        f = next((f for f in repo.files.values() if f.sha256 == parts[2]), None) if repo else None
        if f is None:
            return self.send_json(404, {"error": "Not Found"})
        self.send_file(f, [("ETag", '"%s"' % f.sha256)])

    def modelscope(self, parts, query):
        if len(parts) < 3 or parts[2] != "repo":
            return self.ms_error(404, "Not Found")
        repo = self.server.hub.repos.get("%s/%s" % (urllib.parse.unquote(parts[0]), urllib.parse.unquote(parts[1])))
        if repo is None:
            return self.ms_error(404, "model %s/%s does not exist" % (parts[0], parts[1]))
        denied = self.authorized(repo, "modelscope")
        if denied:
            return self.ms_error(denied[0], denied[1])
        revision = query.get("Revision", ["master"])[0]
        if revision not in ("master", repo.commit):
            return self.ms_error(404, "revision %s does not exist" % revision)
        if parts[3:] == ["files"]:
            files = [{"Name": os.path.basename(f.path), "Path": f.path, "Type": "blob", "Size": f.size,
                      "Sha256": self.server.hub.advertised_sha256(f), "IsLFS": f.lfs, "Revision": repo.commit,
                      "Mode": "33188", "Id": f.git_sha1}
                     for f in sorted(repo.files.values(), key=lambda f: f.path)]
            return self.send_json(200, {"Code": 200, "Data": {"Files": files, "IsVisual": 0},
                                        "Message": "success", "RequestId": "test", "Success": True})
        if parts[3:] == []:
            path = query.get("FilePath", [""])[0]
            f = repo.files.get(path)
            if f is None:
                return self.ms_error(404, "file %s does not exist" % path)
            return self.send_file(f)
        return self.ms_error(404, "Not Found")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], help="ID=FOLDER to serve (repeatable)")
    parser.add_argument("--port-file", required=True, help="written with the chosen port once listening")
    parser.add_argument("--cert", help="PEM certificate: serve HTTPS")
    parser.add_argument("--key", help="PEM private key of --cert")
    parser.add_argument("--log", help="append one JSON line per request here")
    parser.add_argument("--cut-once", action="append", default=[], metavar="PATH")
    parser.add_argument("--stall", action="append", default=[], metavar="PATH")
    parser.add_argument("--stall-seconds", type=float, default=600)
    parser.add_argument("--bad-sha256", action="append", default=[], metavar="PATH")
    parser.add_argument("--gated", action="append", default=[], metavar="ID")
    parser.add_argument("--token", default="")
    parser.add_argument("--rate", type=float, default=0, help="bytes per second per file transfer (0: unlimited)")
    args = parser.parse_args()

    server = Server(("127.0.0.1", 0), Handler)
    server.hub = Hub(args)
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        # The handshake happens in each connection's thread, so a slow client never blocks accept().
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    temporary = args.port_file + ".tmp"
    with open(temporary, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(temporary, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
