#!/usr/bin/python3
"""A KServe v2 client for vit serve, with Python's standard library only: JSON and binary
tensors (Triton's binary tensor extension), encoded images, the classification extension, and
vit serve's /v1 classify endpoint.

As a command:
  python3 examples/kserve_client.py --url http://127.0.0.1:8080 --model vit cat.jpg dog.png
  python3 examples/kserve_client.py --model vit --classification 3 --binary cat.jpg
As a module:
  client = KServeClient("127.0.0.1", 8080, api_key=None)
  status, logits = client.infer_bytes("vit", [open("cat.jpg", "rb").read()])   # [[K floats]]
"""
import argparse
import base64
import http.client
import json
import struct
import sys
import urllib.parse


class KServeClient:
    def __init__(self, host, port, api_key=None, timeout=60):
        self.host, self.port, self.api_key, self.timeout = host, port, api_key, timeout

    def _request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        h = dict(headers or {})
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        try:
            conn.request(method, path, body=body, headers=h)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    @staticmethod
    def _json(data):
        try:
            return json.loads(data)
        except ValueError:
            return {"error": data.decode("utf-8", "replace")}

    def get(self, path):
        status, _, data = self._request("GET", path)
        return status, self._json(data)

    def get_text(self, path):
        status, _, data = self._request("GET", path)
        return status, data.decode("utf-8", "replace")

    def post_raw(self, path, body, content_type, headers=None):
        h = {"Content-Type": content_type, **(headers or {})}
        status, _, data = self._request("POST", path, body, h)
        return status, self._json(data)

    @staticmethod
    def bytes_input(files):
        """The "image_bytes" input with the files as base64 JSON strings."""
        return {"name": "image_bytes", "datatype": "BYTES", "shape": [len(files)],
                "data": [base64.b64encode(f).decode("ascii") for f in files]}

    def infer_json(self, model, request):
        """POSTs a JSON inference request; returns (status, the decoded JSON answer)."""
        return self.post_raw(f"/v2/models/{model}/infer", json.dumps(request).encode(), "application/json")

    def infer_binary(self, model, request, tensors):
        """POSTs `request` (JSON) followed by the binary data of its inputs; returns (status, the
        JSON header of the answer with each binary output decoded into its "data")."""
        header = json.dumps(request).encode()
        status, headers, data = self._request(
            "POST", f"/v2/models/{model}/infer", header + b"".join(tensors),
            {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))})
        length = {k.lower(): v for k, v in headers.items()}.get("inference-header-content-length")
        if length is None:
            return status, self._json(data)
        answer = json.loads(data[:int(length)])
        offset = int(length)
        for out in answer["outputs"]:
            size = out["parameters"]["binary_data_size"]
            raw = data[offset:offset + size]
            offset += size
            if out["datatype"] == "FP32":
                out["data"] = list(struct.unpack(f"<{size // 4}f", raw))
            else:  # BYTES: a 4-byte length before each element
                values, at = [], 0
                while at < len(raw):
                    (n,) = struct.unpack_from("<I", raw, at)
                    values.append(raw[at + 4:at + 4 + n].decode("utf-8", "replace"))
                    at += 4 + n
                out["data"] = values
        return status, answer

    @staticmethod
    def _rows(status, answer):
        if status != 200:
            return status, answer
        out = answer["outputs"][0]
        columns = out["shape"][1]
        return status, [out["data"][i:i + columns] for i in range(0, len(out["data"]), columns)]

    def infer_bytes(self, model, files, binary=False):
        """Logits [B][K] of encoded JPEG/PNG files, sent as base64 JSON or as binary data."""
        if not binary:
            return self._rows(*self.infer_json(model, {"inputs": [self.bytes_input(files)]}))
        data = b"".join(struct.pack("<I", len(f)) + f for f in files)
        request = {"inputs": [{"name": "image_bytes", "datatype": "BYTES", "shape": [len(files)],
                               "parameters": {"binary_data_size": len(data)}}],
                   "outputs": [{"name": "logits", "parameters": {"binary_data": True}}]}
        return self._rows(*self.infer_binary(model, request, [data]))

    def infer_pixels(self, model, values, shape, binary=False):
        """Logits [B][K] of preprocessed FP32 pixels [B, C, H, W] (a flat list)."""
        if not binary:
            return self._rows(*self.infer_json(model, {"inputs": [
                {"name": "images", "datatype": "FP32", "shape": shape, "data": values}]}))
        data = struct.pack(f"<{len(values)}f", *values)
        request = {"inputs": [{"name": "images", "datatype": "FP32", "shape": shape,
                               "parameters": {"binary_data_size": len(data)}}],
                   "parameters": {"binary_data_output": True}}
        return self._rows(*self.infer_binary(model, request, [data]))

    def classify(self, model, image, top_k=None):
        """vit serve's /v1 classify: vit predict --json's object for one encoded image."""
        query = "" if top_k is None else "?" + urllib.parse.urlencode({"top_k": top_k})
        return self.post_raw(f"/v1/models/{model}/classify{query}", image, "application/octet-stream")


def main():
    parser = argparse.ArgumentParser(description="classify images with a vit serve server (KServe v2)")
    parser.add_argument("images", nargs="+", help="JPEG or PNG files")
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--model", default="vit")
    parser.add_argument("--api-key-file", help="a file whose first line is the server's API key")
    parser.add_argument("--classification", type=int, default=5, help="top classes per image")
    parser.add_argument("--binary", action="store_true", help="send and receive binary tensor data")
    args = parser.parse_args()
    url = urllib.parse.urlparse(args.url)
    key = open(args.api_key_file).readline().strip() if args.api_key_file else None
    client = KServeClient(url.hostname, url.port or 80, key)
    files = [open(path, "rb").read() for path in args.images]
    outputs = [{"name": "logits", "parameters": {"classification": args.classification, "binary_data": args.binary}}]
    if args.binary:
        data = b"".join(struct.pack("<I", len(f)) + f for f in files)
        status, answer = client.infer_binary(args.model, {"inputs": [
            {"name": "image_bytes", "datatype": "BYTES", "shape": [len(files)],
             "parameters": {"binary_data_size": len(data)}}], "outputs": outputs}, [data])
    else:
        status, answer = client.infer_json(args.model, {"inputs": [client.bytes_input(files)], "outputs": outputs})
    if status != 200:
        print(f"error: HTTP {status}: {answer.get('error', answer)}", file=sys.stderr)
        return 1
    out = answer["outputs"][0]
    k = out["shape"][1]
    for i, path in enumerate(args.images):
        print(path)
        for entry in out["data"][i * k:(i + 1) * k]:
            logit, index, label = entry.split(":", 2)
            print(f"  {label} ({index}): logit {float(logit):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
