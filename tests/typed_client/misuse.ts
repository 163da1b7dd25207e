// Must NOT type-check: tests/test_browser.py proves the types bite, with a query parameter
// the contract does not have and a field the 200 body does not carry.
import createClient from "openapi-fetch";
import type { paths } from "./schema";

const api = createClient<paths>({ baseUrl: "http://127.0.0.1" });
export async function misuse(): Promise<string> {
  const { data } = await api.GET("/api/hello", { params: { query: { nam: "x" } } });
  return data ? data.greeting : "";
}
