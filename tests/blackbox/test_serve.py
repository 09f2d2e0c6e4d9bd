"""Black-box tests of `olympus serve`: the real binary, real TLS, real sockets, real promtool."""

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from olympus_process import OlympusProcess  # noqa: E402

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class ServeAllInOne(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.olympus = OlympusProcess("all")
        cls.tls = ssl.create_default_context(cafile=cls.olympus.ca_file)

    @classmethod
    def tearDownClass(cls):
        cls.olympus.stop()

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPSConnection("localhost", self.olympus.port, context=self.tls, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def admin(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.olympus.admin_port, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def assert_problem(self, status, headers, body, expected_status):
        self.assertEqual(status, expected_status, body)
        self.assertEqual(headers.get("Content-Type"), "application/problem+json")
        problem = json.loads(body)
        self.assertEqual(problem["status"], expected_status)
        self.assertIn("title", problem)
        return problem

    def test_livez_over_https_verified_against_the_development_ca(self):
        status, headers, body = self.request("GET", "/livez")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"status": "live"})
        self.assertEqual(headers.get("Content-Type"), "application/json")

    def test_tls_below_1_2_is_refused(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(self.olympus.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
        try:
            context.set_ciphers("ALL:@SECLEVEL=0")
        except ssl.SSLError:
            pass
        with socket.create_connection(("127.0.0.1", self.olympus.port), timeout=5) as raw:
            with self.assertRaises((ssl.SSLError, ConnectionError)):
                with context.wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.recv(1)

    def test_readyz_reports_ready(self):
        status, _, body = self.request("GET", "/readyz")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["status"], "ready")

    def test_unknown_path_is_a_404_problem(self):
        self.assert_problem(*self.request("GET", "/no/such/thing"), 404)

    def test_wrong_method_is_a_405_problem_with_allow(self):
        status, headers, body = self.request("DELETE", "/livez")
        self.assert_problem(status, headers, body, 405)
        self.assertIn("GET", headers.get("Allow", ""))

    def test_json_endpoint_echoes_and_rejects_bad_bodies(self):
        status, _, body = self.request("POST", "/v1/demo/echo", json.dumps({"message": "hé", "repeat": 2}),
                                       {"Content-Type": "application/json"})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"echo": "héhé", "length": 6})

        problem = self.assert_problem(*self.request("POST", "/v1/demo/echo", '{"message": 5}',
                                                    {"Content-Type": "application/json"}), 400)
        self.assertEqual(problem["errors"][0]["pointer"], "/message")
        self.assert_problem(*self.request("POST", "/v1/demo/echo", '{"message": "x"',
                                          {"Content-Type": "application/json"}), 400)
        self.assert_problem(*self.request("POST", "/v1/demo/echo", '{"message": "x"}',
                                          {"Content-Type": "text/plain"}), 415)

    def test_oversized_body_is_refused_with_413_before_it_is_sent(self):
        # Only the head is sent: the server must answer from the declared length alone.
        with socket.create_connection(("127.0.0.1", self.olympus.port), timeout=10) as raw:
            with self.tls.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"POST /v1/demo/echo HTTP/1.1\r\nHost: localhost\r\n"
                            b"Content-Type: application/json\r\nContent-Length: 2097152\r\n\r\n")
                reply = b""
                while b"\r\n\r\n" not in reply:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
        self.assertTrue(reply.startswith(b"HTTP/1.1 413 "), reply[:80])
        self.assertIn(b"application/problem+json", reply)

    def test_metrics_pass_promtool_and_label_by_route_template(self):
        self.request("GET", "/livez")
        self.request("GET", "/secret-path-12345")
        status, headers, body = self.admin("/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers.get("Content-Type", "").startswith("text/plain; version=0.0.4"))
        text = body.decode()
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertRegex(text, r'http_server_requests_total\{[^}]*route="/livez"[^}]*\} [1-9]')
        self.assertIn("http_server_request_duration_seconds_bucket", text)
        self.assertIn("process_resident_memory_bytes", text)
        self.assertNotIn("secret-path-12345", text)

    def test_metrics_are_not_on_the_public_listener(self):
        self.assertEqual(self.request("GET", "/metrics")[0], 404)

    def test_access_log_carries_the_callers_trace_and_redacts_secrets(self):
        status, headers, _ = self.request("GET", "/livez?access_token=query-secret-1", headers=
                                          {"traceparent": TRACEPARENT, "Authorization": "Bearer header-secret-2",
                                           "Cookie": "session=cookie-secret-3"})
        self.assertEqual(status, 200)
        self.assertTrue(headers.get("traceparent", "").startswith("00-0af7651916cd43dd8448eb211c80319c-"))
        line = self.olympus.wait_for(lambda l: l.get("trace.id") == "0af7651916cd43dd8448eb211c80319c")
        self.assertIsNotNone(line, "no log line carries the caller's trace id")
        self.assertEqual(line.get("url.path"), "/livez")
        self.assertEqual(line.get("http.response.status_code"), 200)
        everything = "\n".join(self.olympus.raw_lines())
        for secret in ("query-secret-1", "header-secret-2", "cookie-secret-3"):
            self.assertNotIn(secret, everything)

    def test_every_log_line_is_json_and_conforms_to_ecs(self):
        self.request("GET", "/livez")
        self.request("POST", "/v1/demo/echo", "{", {"Content-Type": "application/json"})
        self.assertIsNotNone(self.olympus.wait_for(lambda l: l.get("http.response.status_code") == 400))
        lines = self.olympus.raw_lines()
        for line in self.olympus.json_lines():
            for field in ("@timestamp", "log.level", "message", "service.name"):
                self.assertIn(field, line)
        checker = os.path.join(os.path.dirname(__file__), "..", "tools", "ecs_check.py")
        check = subprocess.run(["/usr/bin/python3", checker, "-"], input="\n".join(lines) + "\n",
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


class ServeLifecycle(unittest.TestCase):
    def test_sigterm_drains_and_exits_zero(self):
        olympus = OlympusProcess("all")
        try:
            context = ssl.create_default_context(cafile=olympus.ca_file)
            conn = http.client.HTTPSConnection("localhost", olympus.port, context=context, timeout=5)
            conn.request("GET", "/livez")
            self.assertEqual(conn.getresponse().status, 200)
            conn.close()
            self.assertEqual(olympus.terminate(), 0)
            messages = [l.get("message") for l in olympus.json_lines()]
            self.assertIn("shutting down", messages)
            self.assertEqual(messages[-1], "stopped")
        finally:
            olympus.stop()

    def test_invalid_option_stops_start_up_naming_it(self):
        result = subprocess.run([os.environ["OLYMPUS_BIN"], "serve", "--port", "70000"], capture_output=True,
                                text=True, timeout=10)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("--port", result.stdout + result.stderr)

    def test_environment_configures_and_help_documents_it(self):
        result = subprocess.run([os.environ["OLYMPUS_BIN"], "serve", "--help"], capture_output=True, text=True,
                                timeout=10)
        self.assertEqual(result.returncode, 0)
        for expected in ("OLYMPUS_PORT", "8443", "OLYMPUS_ADMIN_PORT", "OLYMPUS_TLS", "OLYMPUS_DATA_DIR"):
            self.assertIn(expected, result.stdout)
        olympus = OlympusProcess("demo", env={"OLYMPUS_TLS": "false"})
        try:
            conn = http.client.HTTPConnection("127.0.0.1", olympus.port, timeout=5)
            conn.request("GET", "/v1/demo/hello")
            self.assertEqual(conn.getresponse().status, 200)
            conn.close()
        finally:
            olympus.stop()

    def test_version(self):
        result = subprocess.run([os.environ["OLYMPUS_BIN"], "version"], capture_output=True, text=True, timeout=10)
        self.assertEqual(result.returncode, 0)
        self.assertRegex(result.stdout, r"^olympus \d+\.\d+\.\d+")


if __name__ == "__main__":
    unittest.main()
