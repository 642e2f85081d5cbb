#ifndef HANDOFF_CCURL_SHIM_H
#define HANDOFF_CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: one typed
   wrapper per argument kind. */
typedef size_t (*handoff_curl_data_fn)(char *data, size_t size, size_t count, void *user);
typedef int (*handoff_curl_progress_fn)(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);

static inline CURLcode handoff_curl_set_long(CURL *c, CURLoption o, long v) { return curl_easy_setopt(c, o, v); }
static inline CURLcode handoff_curl_set_string(CURL *c, CURLoption o, const char *v) { return curl_easy_setopt(c, o, v); }
static inline CURLcode handoff_curl_set_pointer(CURL *c, CURLoption o, void *v) { return curl_easy_setopt(c, o, v); }
static inline CURLcode handoff_curl_set_headers(CURL *c, struct curl_slist *v) { return curl_easy_setopt(c, CURLOPT_HTTPHEADER, v); }
static inline CURLcode handoff_curl_set_body(CURL *c, const char *data, long length) {
    CURLcode r = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, length);
    return r != CURLE_OK ? r : curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
}
static inline CURLcode handoff_curl_set_write(CURL *c, handoff_curl_data_fn f) { return curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, f); }
static inline CURLcode handoff_curl_set_header_fn(CURL *c, handoff_curl_data_fn f) { return curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, f); }
static inline CURLcode handoff_curl_set_progress(CURL *c, handoff_curl_progress_fn f) { return curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, f); }
static inline long handoff_curl_status(CURL *c) { long s = 0; curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s); return s; }
#endif
