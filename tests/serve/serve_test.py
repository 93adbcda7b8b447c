#!/usr/bin/python3
"""vit serve, end to end: the server is started here on loopback and driven by a KServe v2 client
written with Python's standard library (JSON and binary tensors), by curl, by raw sockets for
hostile requests, and by hey for a bounded load test.

usage: serve_test.py PATH_TO_VIT   (VIT_FIXTURE_DIR: the fixtures of tests/reference)
"""
import base64
import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples"))
from kserve_client import KServeClient  # noqa: E402

VIT = sys.argv[1]
FIXTURES = os.environ.get("VIT_FIXTURE_DIR", "fixtures")
TMP = tempfile.mkdtemp(prefix="vit_serve_test_")
KEY = "test-key-0123456789abcdef"
failures = []
passed = 0


def check(name, condition, detail=""):
    global passed
    if condition:
        passed += 1
    else:
        failures.append(name)
        print(f"FAIL {name}: {detail}"[:2000])


def run(*args, timeout=300):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


class Server:
    """vit serve on a free loopback port, ready (or failed) within 60 s."""

    def __init__(self, *args, wait_ready=True):
        self.log_path = os.path.join(TMP, f"serve_{time.monotonic_ns()}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([VIT, "serve", "--port", "0", *args], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        self.port = None
        while self.port is None and time.monotonic() < deadline:
            exited = self.proc.poll() is not None
            m = re.search(r"listening on http://[^:]+:(\d+)", self.output())
            if m:
                self.port = int(m.group(1))
            elif exited:
                break
            time.sleep(0.05)
        if self.port is None:
            raise RuntimeError("vit serve did not start: " + self.output())
        while wait_ready and "vit serve: ready" not in self.output() and time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("vit serve exited: " + self.output())
            time.sleep(0.05)

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def client(self, key=KEY):
        return KServeClient("127.0.0.1", self.port, key)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -1


def raw_exchange(port, data, read_timeout=10.0, pause=None):
    """Sends raw bytes (optionally one at a time with `pause` s between) and returns the answer's
    status (0 when the connection closed without one) and all bytes read."""
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    try:
        if pause is None:
            s.sendall(data)
        else:
            for i in range(len(data)):
                s.sendall(data[i:i + 1])
                time.sleep(pause)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        out = b""
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.1 (\d+)", out)
    return (int(m.group(1)) if m else 0), out


def png_declaring(width, height):
    """A valid small PNG file whose header declares width x height grey pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def softmax(row):
    m = max(row)
    e = [math.exp(x - m) for x in row]
    s = sum(e)
    return [x / s for x in e]


def close_rows(a, b, tol):
    """Equal within tol (the JSON values are the shortest decimals of float32s, binary ones exact)."""
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b))


def main():
    # A model trained here (28x28 grey, Fashion-MNIST's class names) and an RGB one in timm's names.
    r = run(VIT, "train", "--train-limit", "500", "--test-limit", "100", "--batch-size", "50", "--epochs", "1",
            "--threads", "2", "--out", os.path.join(TMP, "run"))
    check("train", r.returncode == 0, r.stderr)
    fm = os.path.join(TMP, "run", "model.safetensors")
    rgb = os.path.join(FIXTURES, "weights", "vit_learned_2d.safetensors")
    key_file = os.path.join(TMP, "key")
    with open(key_file, "w") as f:
        f.write(KEY + "\n")
    photo = open(os.path.join(FIXTURES, "preprocess", "photo.jpg"), "rb").read()
    grey = open(os.path.join(FIXTURES, "grey.png"), "rb").read()
    images = [photo, grey, open(os.path.join(FIXTURES, "preprocess", "rgba.png"), "rb").read()]

    # --- command-line mistakes
    r = run(VIT, "serve")
    check("no_weights", r.returncode == 1 and "vit serve needs weights: --weights FILE" in r.stderr, r.stderr)
    r = run(VIT, "serve", "--model", "a/b=" + fm)
    check("bad_name", r.returncode == 1 and "model name 'a/b' must be 1 to 64 of" in r.stderr, r.stderr)
    r = run(VIT, "serve", "--weights", fm, "--model", "vit=" + fm)
    check("twice", r.returncode == 1 and "model name 'vit' is given twice" in r.stderr, r.stderr)
    short_key = os.path.join(TMP, "short_key")
    with open(short_key, "w") as f:
        f.write("abc\n")
    r = run(VIT, "serve", "--weights", fm, "--api-key-file", short_key)
    check("short_key", r.returncode == 1 and "the key (its first line) has 3 characters; use at least 16" in r.stderr, r.stderr)
    r = run(VIT, "serve", "--weights", fm, "--host", "localhost:80")
    check("bad_host", r.returncode == 1 and "--host 'localhost:80' is not an IP address" in r.stderr, r.stderr)
    bad = Server("--weights", os.path.join(TMP, "missing.safetensors"), wait_ready=False)
    code = bad.proc.wait(timeout=60)
    check("missing_weights", code == 1 and "missing.safetensors" in bad.output(), bad.output())

    server = Server("--weights", fm, "--name", "fm", "--model", "rgb=" + rgb, "--max-batch", "4", "--max-delay-ms", "20",
                    "--queue", "16", "--timeout", "2", "--api-key-file", key_file, "--max-body-mb", "1")
    c = server.client()
    anonymous = server.client(key=None)

    # --- health, metadata and access
    check("live", anonymous.get("/v2/health/live")[0] == 200)
    check("ready", anonymous.get("/v2/health/ready")[0] == 200)
    status, body = anonymous.get("/v2")
    check("no_key", status == 401 and "needs an API key" in body.get("error", ""), f"{status} {body}")
    status, body = server.client(key="wrong-key-0123456789abcdef").get("/v2/models/fm")
    check("wrong_key", status == 401 and body.get("error") == "the API key is not valid", f"{status} {body}")
    status, body = anonymous.post_raw("/v2/models/fm/infer", b"{}", "application/json")
    check("no_key_infer", status == 401, f"{status} {body}")
    status, body = c.get("/v2")
    check("server_meta", status == 200 and "binary_tensor_data" in body["extensions"], f"{status} {body}")
    status, meta = c.get("/v2/models/fm")
    check("model_meta", status == 200 and meta["inputs"][0]["shape"] == [-1, 1, 28, 28]
          and meta["outputs"][0]["shape"] == [-1, 10], f"{status} {meta}")
    check("model_ready", c.get("/v2/models/rgb/ready")[0] == 200)
    status, body = c.get("/v2/models/cat")
    check("unknown_model", status == 404 and "model 'cat' is not served here; this server serves fm, rgb" in body["error"],
          f"{status} {body}")
    status, out = raw_exchange(server.port, b"GET /v2/models/../ready HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                               + KEY.encode() + b"\r\n\r\n")
    check("dotdot_name", status == 400 and b"is not a model name" in out, out[:300])
    status, body = c.get("/v2/models/fm/infer")
    check("wrong_method", status == 405 and "takes POST, not GET" in body["error"], f"{status} {body}")
    status, body = c.get("/nothing")
    check("no_endpoint", status == 404, f"{status} {body}")

    # --- predictions equal vit predict's
    photo_path = os.path.join(FIXTURES, "preprocess", "photo.jpg")
    r = run(VIT, "predict", "--weights", fm, photo_path, "--json", "--top-k", "3")
    expected = json.loads(r.stdout)["predictions"][0]["top"]
    status, body = c.classify("fm", photo, top_k=3)
    got = body["predictions"][0]["top"] if status == 200 else []
    check("classify_equals_predict", status == 200 and [t["class"] for t in got] == [t["class"] for t in expected]
          and close_rows([t["probability"] for t in got], [t["probability"] for t in expected], 1e-5),
          f"{status} {body} vs {expected}")
    curl = run("curl", "-s", "-H", f"Authorization: Bearer {KEY}", "-F", f"image=@{photo_path}",
               f"http://127.0.0.1:{server.port}/v1/models/fm/classify?top_k=3")
    got = json.loads(curl.stdout or "{}")
    check("curl_multipart", got.get("predictions", [{}])[0].get("path") == "photo.jpg"
          and [t["class"] for t in got["predictions"][0]["top"]] == [t["class"] for t in expected], curl.stdout)

    # logits: base64 JSON and binary BYTES agree, and their softmax is vit predict's
    status, solo = c.infer_bytes("fm", [photo])
    status2, solo_binary = c.infer_bytes("fm", [photo], binary=True)
    check("bytes_json_binary", status == 200 and status2 == 200 and close_rows(solo[0], solo_binary[0], 1e-6),
          f"{status} {solo} {solo_binary}")
    probs = sorted(softmax(solo[0]), reverse=True)[:3] if status == 200 else []
    check("logits_softmax_predict", close_rows(probs, [t["probability"] for t in expected], 1e-5), f"{probs}")

    # the same image in any batch gets the same logits (1e-5): concurrent clients, and one request of three
    solos = [c.infer_bytes("rgb", [img])[1][0] for img in images]
    status, three = c.infer_bytes("rgb", images)
    check("batch_of_three", status == 200 and all(close_rows(a, b, 1e-5) for a, b in zip(three, solos)), f"{three}")
    results = [None] * 12

    def worker(i):
        results[i] = server.client().infer_bytes("rgb", [images[i % 3]])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check("concurrent_equal", all(r is not None and r[0] == 200 and close_rows(r[1][0], solos[i % 3], 1e-5)
                                  for i, r in enumerate(results)), f"{results}")

    # FP32 tensors: JSON flat, JSON nested and binary give the same logits
    pixels = [((i * 37) % 101) / 50.0 - 1.0 for i in range(2 * 28 * 28)]
    status, flat = c.infer_pixels("fm", pixels, [2, 1, 28, 28])
    nested = [[[pixels[b * 784 + y * 28:b * 784 + y * 28 + 28] for y in range(28)]] for b in range(2)]
    status2, from_nested = c.infer_json("fm", {"inputs": [{"name": "images", "datatype": "FP32", "shape": [2, 1, 28, 28],
                                                           "data": nested}]})
    status3, binary = c.infer_pixels("fm", pixels, [2, 1, 28, 28], binary=True)
    check("pixels_forms", status == 200 and close_rows(sum(flat, []), sum(binary, []), 1e-6)
          and from_nested["outputs"][0]["data"] == sum(flat, []), f"{status} {status2} {status3}")

    # classification extension: "logit:index:label", most probable first
    status, body = c.infer_json("fm", {"id": "req-7", "inputs": [c.bytes_input([photo])],
                                       "outputs": [{"name": "logits", "parameters": {"classification": 2}}]})
    out = body.get("outputs", [{}])[0]
    first = out.get("data", ["::"])[0].split(":")
    best = max(range(10), key=lambda k: solo[0][k])
    check("classification", status == 200 and body.get("id") == "req-7" and out["datatype"] == "BYTES"
          and out["shape"] == [1, 2] and int(first[1]) == best and abs(float(first[0]) - solo[0][best]) < 1e-4,
          f"{status} {body}")

    # --- hostile requests: each answered with its status, the server still serving
    def refused(name, status_code, text, result):
        status, body = result
        shown = body if isinstance(body, (dict, str)) else body[:300]
        message = body.get("error", "") if isinstance(body, dict) else str(body)
        check(name, status == status_code and text in message, f"{status} {shown}")
        check(name + "_still_serving", anonymous.get("/v2/health/live")[0] == 200)

    auth = b"Authorization: Bearer " + KEY.encode() + b"\r\n"
    refused("oversize_body", 413, "larger than the limit of 1048576 bytes",
            raw_exchange(server.port, b"POST /v2/models/fm/infer HTTP/1.1\r\nHost: x\r\n" + auth
                         + b"Content-Length: 5000000\r\n\r\n" + b"x" * 1000))
    chunked = b"".join(b"%x\r\n" % 65536 + b"x" * 65536 + b"\r\n" for _ in range(20)) + b"0\r\n\r\n"
    refused("chunked_oversize", 413, "larger than the limit",
            raw_exchange(server.port, b"POST /v2/models/fm/infer HTTP/1.1\r\nHost: x\r\n" + auth
                         + b"Transfer-Encoding: chunked\r\n\r\n" + chunked))
    refused("many_headers", 431, "header fields; the limit is 64",
            raw_exchange(server.port, b"GET /v2 HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(100)) + b"\r\n"))
    refused("long_line", 431, "header is larger than the limit",
            raw_exchange(server.port, b"GET /v2?" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"))
    refused("garbage", 400, "malformed HTTP request", raw_exchange(server.port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\r\n\r\n"))
    t0 = time.monotonic()
    status, out = raw_exchange(server.port, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n", pause=1.0, read_timeout=20)
    elapsed = time.monotonic() - t0
    check("slow_client_cut_off", status == 0 and elapsed < 6, f"{status} after {elapsed:.1f} s: {out[:200]}")
    check("slow_client_still_serving", anonymous.get("/v2/health/live")[0] == 200)
    refused("malformed_json", 400, "the request is not JSON", c.post_raw("/v2/models/fm/infer", b"{\"inputs\": [", "application/json"))
    refused("deep_json", 400, "nested deeper than 64 levels", c.post_raw("/v2/models/fm/infer", b"[" * 100000, "application/json"))
    refused("wrong_datatype", 400, "input \"images\" must be FP32, got \"INT8\"",
            c.infer_json("fm", {"inputs": [{"name": "images", "datatype": "INT8", "shape": [1, 1, 28, 28], "data": [0] * 784}]}))
    refused("wrong_shape", 400, "must have shape [B, 1, 28, 28], got [1,3,28,28]",
            c.infer_json("fm", {"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 3, 28, 28], "data": [0]}]}))
    refused("shape_overflow", 400, "holds more than 2^40 values",
            c.infer_json("fm", {"inputs": [{"name": "images", "datatype": "FP32",
                                            "shape": [4294967296, 4294967296, 28, 28], "data": [0]}]}))
    refused("too_many_images", 413, "holds 17 images; this server takes at most 16",
            c.infer_json("fm", {"inputs": [{"name": "images", "datatype": "FP32", "shape": [17, 1, 28, 28], "data": [0]}]}))
    refused("short_data", 400, "holds 3 values, but shape [1,1,28,28] needs 784",
            c.infer_json("fm", {"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 1, 28, 28], "data": [1, 2, 3]}]}))
    refused("nan_data", 400, "not finite", c.infer_pixels("fm", [float("nan")] * 784, [1, 1, 28, 28], binary=True))
    header = json.dumps({"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 1, 28, 28],
                                     "parameters": {"binary_data_size": 3136}}]}).encode()
    refused("binary_past_body", 400, "binary_data_size is 3136 bytes, but 400 bytes follow the JSON header",
            c.post_raw("/v2/models/fm/infer", header + b"\0" * 400, "application/octet-stream",
                       {"Inference-Header-Content-Length": str(len(header))}))
    refused("binary_header_past_body", 400, "Inference-Header-Content-Length is 99999, but the body has",
            c.post_raw("/v2/models/fm/infer", header, "application/octet-stream", {"Inference-Header-Content-Length": "99999"}))
    refused("bomb_png", 400, "more than the limit of 16777216 (a decompression bomb?)", c.infer_bytes("fm", [png_declaring(30000, 30000)]))
    refused("not_an_image", 400, "is not a JPEG or PNG image", c.classify("fm", b"hello, this is text"))
    refused("truncated_jpeg", 400, "image 2 of 2", c.infer_bytes("fm", [photo, photo[:300]]))
    refused("bad_base64", 400, "is not base64", c.infer_json("fm", {"inputs": [{"name": "image_bytes", "datatype": "BYTES",
                                                                                 "shape": [1], "data": ["%%%%"]}]}))
    refused("unknown_input", 400, "unknown input \"pixels\"",
            c.infer_json("fm", {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1], "data": [0]}]}))
    refused("unknown_key", 400, "unknown key \"input\"", c.infer_json("fm", {"input": []}))
    refused("empty_classify", 400, "the request holds no image", c.classify("fm", b""))
    refused("bad_top_k", 400, "top_k must be a whole number >= 1, got 'x'", c.classify("fm", photo, top_k="x"))

    # --- metrics
    status, text = c.get_text("/metrics")
    check("metrics", status == 200 and 'vit_requests_total{model="fm",code="200"}' in text
          and 'vit_requests_total{model="fm",code="400"}' in text and 'vit_images_total{model="rgb"}' in text
          and 'vit_queue_seconds_bucket{model="rgb",le="+Inf"}' in text and "vit_queue_images 0" in text, text[:3000])
    batches = int(re.search(r'vit_batches_total\{model="rgb"\} (\d+)', text).group(1))
    inferred = int(re.search(r'vit_images_total\{model="rgb"\} (\d+)', text).group(1))
    check("batched", batches < inferred, f"{batches} batches for {inferred} images")
    check("metrics_need_key", anonymous.get_text("/metrics")[0] == 401)

    # --- bounded load test with hey: only 200s
    body_path = os.path.join(TMP, "photo.jpg")
    shutil.copy(photo_path, body_path)
    hey = shutil.which("hey")
    check("hey_installed", hey is not None, "hey is not installed (scripts/install_deps.sh)")
    if hey:
        r = run(hey, "-z", "8s", "-c", "8", "-m", "POST", "-D", body_path, "-T", "image/jpeg", "-H",
                f"Authorization: Bearer {KEY}", f"http://127.0.0.1:{server.port}/v1/models/fm/classify", timeout=60)
        codes = dict(re.findall(r"\[(\d+)\]\s+(\d+) responses", r.stdout))
        check("load_only_200", list(codes) == ["200"] and int(codes["200"]) > 100, r.stdout[-1500:])
    check("load_still_serving", anonymous.get("/v2/health/live")[0] == 200)
    check("sigterm_exit_0", server.stop() == 0, server.output()[-1000:])

    # --- a full queue, a request past its deadline, and SIGTERM with a request in flight
    slow = Server("--weights", fm, "--max-batch", "64", "--max-delay-ms", "1500", "--queue", "4", "--timeout", "1")
    c = slow.client(key=None)
    answers = {}

    def queued(tag, port, count):
        answers[tag] = KServeClient("127.0.0.1", port, None).infer_bytes("vit", [photo] * count)

    first = threading.Thread(target=queued, args=("first", slow.port, 3))
    first.start()
    time.sleep(0.3)
    status, body = c.infer_bytes("vit", [photo] * 2)
    check("queue_full_503", status == 503 and "the queue is full (it holds 4 images)" in body.get("error", ""),
          f"{status} {body}")
    first.join()
    status, body = answers["first"]
    check("deadline_dropped", status == 503 and "past its deadline (--timeout 1 s)" in body.get("error", ""),
          f"{status} {body}")
    status, text = c.get_text("/metrics")
    check("rejections_counted", 'vit_rejections_total{reason="queue_full"} 1' in text
          and 'vit_rejections_total{reason="timeout"} 1' in text and 'vit_images_total{model="vit"}' not in text,
          text[:2000])
    slow.stop()

    drain = Server("--weights", fm, "--max-batch", "64", "--max-delay-ms", "1500")
    in_flight = threading.Thread(target=queued, args=("in_flight", drain.port, 1))
    in_flight.start()
    time.sleep(0.4)
    drain.proc.send_signal(signal.SIGTERM)
    in_flight.join()
    code = drain.proc.wait(timeout=60)
    status, body = answers.get("in_flight", (0, {}))
    check("sigterm_answers_in_flight", status == 200 and len(body[0]) == 10, f"{status} {body}")
    check("sigterm_exits_0", code == 0 and "SIGTERM: answering the requests in flight" in drain.output(),
          f"exit {code}: {drain.output()}")
    try:
        socket.create_connection(("127.0.0.1", drain.port), timeout=2).close()
        refused_after = False
    except OSError:
        refused_after = True
    check("closed_after_sigterm", refused_after)

    print(f"serve_test: {passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        code = main()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(code)
