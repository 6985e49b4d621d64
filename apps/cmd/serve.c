/* `ptune serve`: many adapters on one backbone over HTTP (apps/serve/serve.h). */
#include "apps/cmd/commands.h"
#include "apps/serve/serve.h"
#include "tensor/pt_heap.h"

static int serve(run_args *a) {
  pt_heap_one_arena(); /* 64 connection threads, one heap (tensor/pt_heap.h) */
  serve_config c;
  serve_config_default(&c);
  c.model = a->model;
  c.adapters = a->serve_adapters.v;
  c.nadapters = a->serve_adapters.n;
  if (a->host) c.host = a->host;
  c.port = (int)a->port;
  c.token_file = a->token_file;
  c.threads = (int)a->threads;
  c.backbone_dtype = a->backbone_dtype;
  c.max_batch_tokens = a->max_batch_tokens;
  c.max_wait_ms = a->max_wait_ms;
  c.queue_size = a->queue_size;
  c.max_body_bytes = a->max_body_bytes;
  c.max_inputs = a->max_inputs;
  c.timeout_ms = a->timeout_ms;
  c.max_connections = a->max_connections;
  return serve_run(&c);
}

static const command serve_command = {
    .name = "serve",
    .summary = "serve many adapters on one backbone over HTTP (mixed batches)",
    .usage =
        "serve --model DIR --adapter NAME=DIR [NAME=DIR ...] [options]\n"
        "POST /v1/predict {\"adapter\": NAME, \"inputs\": [...]}; GET /v1/adapters; POST|DELETE\n"
        "/v1/adapters/NAME; GET /healthz; GET /metrics. SIGTERM or Ctrl-C drains and stops.\n"
        "See docs/serving.md.",
    .defaults =
        "--port 8080 --max-batch-tokens 16384 --max-wait-ms 2 --queue-size 256 "
        "--max-body-bytes 1048576 --max-inputs 64 --timeout-ms 30000 --max-connections 512",
    .required = "--model",
    .run = serve,
};
COMMAND_REGISTER(serve_command);
