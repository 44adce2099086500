#pragma once
// Every error mvproxy itself answers is a Kubernetes metav1.Status, so kubectl and
// client-go print and classify it as they would an apiserver's own.

#include <string>
#include <string_view>

namespace mvproxy::util {

// {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
//  "message":"...","reason":"...","code":N}  — message JSON-escaped (invalid UTF-8
// replaced). An empty reason is left out, as metav1.Status does (omitempty).
std::string status_json(int code, std::string_view reason, std::string_view message);

// The metav1.StatusReason client-go assigns to an HTTP code (apimachinery
// errors.NewGenericServerResponse / reasonForCode): 400 BadRequest, 401 Unauthorized,
// 403 Forbidden, 404 NotFound, 405 MethodNotAllowed, 406 NotAcceptable, 409 Conflict,
// 410 Gone, 413 RequestEntityTooLarge, 415 UnsupportedMediaType, 422 Invalid,
// 429 TooManyRequests, 503 ServiceUnavailable, 504 Timeout, any other 5xx (500, 502)
// InternalError. Kubernetes has no reason for other 4xx (e.g. 431): "" (unknown).
std::string_view reason_for(int code);

// status_json(code, reason_for(code), message).
std::string status_json(int code, std::string_view message);

}  // namespace mvproxy::util
