// The front end's side of the contract, as a team would write it: a client typed from the
// bake's openapi.json (openapi-typescript writes ./schema.d.ts, openapi-fetch calls it).
// tests/test_browser.py type-checks this module, bundles it and runs it in Chromium.
import createClient from "openapi-fetch";
import type { paths } from "./schema";

export interface Outcome {
  status: number;
  message: string | null;
}

export interface FieldProblem {
  status: number;
  location: string | null;
  field: string | null;
  message: string | null;
}

function client(baseUrl: string) {
  return createClient<paths>({ baseUrl });
}

// A page's Promise.all: `parallel` greetings at once, each after a preflight (the
// Authorization header is not CORS-safelisted).
export async function burst(baseUrl: string, parallel: number): Promise<Outcome[]> {
  const api = client(baseUrl);
  const calls = Array.from({ length: parallel }, (_, i) =>
    api.GET("/api/hello", {
      params: { query: { name: `page ${i}` } },
      headers: { Authorization: "Bearer page-token" },
    }),
  );
  const answers = await Promise.all(calls);
  return answers.map(({ data, response }) => ({
    status: response.status,
    message: data ? data.message : null,
  }));
}

// A name the contract refuses: the 422's typed body says which field and why.
export async function refusedName(baseUrl: string, name: string): Promise<FieldProblem> {
  const { error, response } = await client(baseUrl).GET("/api/hello", {
    params: { query: { name } },
  });
  const first = error && "errors" in error ? error.errors[0] : undefined;
  return {
    status: response.status,
    location: first ? first.location : null,
    field: first ? first.field : null,
    message: first ? first.message : null,
  };
}
