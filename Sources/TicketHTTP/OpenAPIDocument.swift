import TicketCore

/// The OpenAPI 3.1 document of the API. It follows the running configuration: the menu items
/// are the `enum` of an order line's `item`, and `long_poll_max_seconds` is the `maximum` of a
/// kitchen claim's `wait`. A test holds its paths and methods against `APIRoutes.all`, and
/// `scripts/fuzz` holds the server to it (schemathesis, every check but `use_after_free`).
///
/// Conventions the server keeps: an optional field of a request body may be `null`, meaning
/// absent (its default); integers in queries and paths run to 2^63 − 1; string lengths count
/// Unicode code points.
enum OpenAPIDocument {
    static func json(_ settings: APISettings) -> String {
        var enumText = JSONWriter()
        enumText.beginArray()
        for item in settings.menu.items { enumText.element(); enumText.value(item.name) }
        enumText.endArray()
        return template
            .replacingOccurrences(of: "\"__PATHS__\"", with: paths)
            .replacingOccurrences(of: "\"__MENU_ENUM__\"", with: enumText.string)
            .replacingOccurrences(of: "\"__LONG_POLL_MAX__\"", with: JSONWriter.format(settings.longPollMaxSeconds))
    }

    /// The `paths` object, built from the route table: each path of `APIRoutes.all` in the
    /// table's order, with the operation of each method served there.
    static let paths: String = {
        var byPath: [(path: String, routes: [APIRoutes.Route])] = []
        for route in APIRoutes.all {
            let path = APIRoutes.openAPIPath(route.path)
            if let i = byPath.firstIndex(where: { $0.path == path }) { byPath[i].routes.append(route) } else { byPath.append((path, [route])) }
        }
        let members = byPath.map { entry -> String in
            let methods = entry.routes.map { route in
                "\"\(route.method.rawValue.lowercased())\": \(operations[route.operationID] ?? "{}")"
            }
            return "\"\(entry.path)\": {\(methods.joined(separator: ", "))}"
        }
        return "{" + members.joined(separator: ",\n") + "}"
    }()

    /// Every order status, from `OrderStatus` (a status added there is documented at once).
    static let statusEnum: String = {
        var w = JSONWriter()
        w.beginArray()
        for status in OrderStatus.allCases { w.element(); w.value(status.rawValue) }
        w.endArray()
        return w.string
    }()

    /// The largest value of an integer in a query or a path (a signed 64-bit integer).
    static let maxInteger = "9223372036854775807"

    static let problem = ##"{"description": "Problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}"##
    static let ticketOK = ##"{"description": "The ticket", "headers": {"ETag": {"schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Ticket"}}}}"##
    static let orderOK = ##"{"description": "The order (operator view)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OperatorOrder"}}}}"##
    static let ticketParam = ##"{"name": "ticket", "in": "path", "required": true, "schema": {"type": "string"}}"##
    static let idParam = ##"{"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1, "maximum": \##(maxInteger)}}"##
    static let auth = ##"[{"bearer": []}]"##
    static let authErrors = ##""401": \##(problem), "403": \##(problem)"##
    static func jsonBody(_ schema: String) -> String {
        ##"{"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/\##(schema)"}}}}"##
    }


    /// The OpenAPI operation of every route, by `operationId`. `APIRoutes.all` says which
    /// exist and where: the document's paths are built from that table.
    static let operations: [String: String] = [
        "placeOrder": ##"""
        {
          "operationId": "placeOrder", "summary": "Place an order",
          "parameters": [{"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}}],
          "requestBody": \##(jsonBody("OrderRequest")),
          "responses": {
            "202": {"description": "Placed: the ticket", "headers": {"Location": {"schema": {"type": "string"}}, "Link": {"description": "The customer's page of the ticket: </t/{ticket}>; rel=\"alternate\"; type=\"text/html\"", "schema": {"type": "string"}}, "Retry-After": {"schema": {"type": "integer"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Ticket"}}}},
            "400": \##(problem), "413": \##(problem), "415": \##(problem), "422": \##(problem), "503": \##(problem)
          }
        }
        """##,
        "listOrders": ##"""
        {
          "operationId": "listOrders", "summary": "List orders (operator)", "security": \##(auth),
          "parameters": [
            {"name": "status", "in": "query", "schema": {"type": "string", "enum": \##(statusEnum)}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
            {"name": "after", "in": "query", "description": "The next of an earlier page", "schema": {"type": "integer", "minimum": 0, "maximum": \##(maxInteger)}}
          ],
          "responses": {"200": {"description": "A page of orders, oldest first", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OrderList"}}}}, \##(authErrors), "422": \##(problem)}
        }
        """##,
        "getTicket": ##"""
        {
          "operationId": "getTicket", "summary": "The ticket's state; with wait, a long poll",
          "parameters": [\##(ticketParam),
            {"name": "wait", "in": "query", "description": "Seconds to wait for a change (a long poll), capped at long_poll_max_seconds", "schema": {"type": "number", "minimum": 0}},
            {"name": "version", "in": "query", "description": "With wait: the version the client has (default: the current one); without wait it changes nothing", "schema": {"type": "integer", "minimum": 1, "maximum": \##(maxInteger)}},
            {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
          "responses": {"200": \##(ticketOK), "304": {"description": "Not modified"}, "404": \##(problem), "422": \##(problem), "503": \##(problem)}
        }
        """##,
        "cancelTicket": ##"""
        {
          "operationId": "cancelTicket", "summary": "Cancel an order still queued",
          "parameters": [\##(ticketParam)],
          "responses": {"200": \##(ticketOK), "404": \##(problem), "409": \##(problem), "503": \##(problem)}
        }
        """##,
        "streamTicketEvents": ##"""
        {
          "operationId": "streamTicketEvents", "summary": "Server-Sent Events: one event per change until a final state",
          "parameters": [\##(ticketParam), {"name": "Last-Event-ID", "in": "header", "description": "The id of the last event seen: events up to that version are not sent again. An id that is not one of this ticket's versions is ignored (the stream starts with the current state).", "schema": {"type": "string"}}],
          "responses": {"200": {"description": "event: ticket, id: version, data: the ticket", "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/TicketEvent"}}}}, "404": \##(problem), "503": \##(problem)}
        }
        """##,
        "pickupTicket": ##"""
        {
          "operationId": "pickupTicket", "summary": "Collect a ready order",
          "parameters": [\##(ticketParam)],
          "responses": {"200": \##(ticketOK), "404": \##(problem), "409": \##(problem), "503": \##(problem)}
        }
        """##,
        "getMenu": ##"""
        {"operationId": "getMenu", "summary": "The menu", "responses": {"200": {"description": "The menu", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Menu"}}}}}}
        """##,
        "getBoard": ##"""
        {"operationId": "getBoard", "summary": "Numbers preparing and ready", "responses": {"200": {"description": "The board", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Board"}}}}}}
        """##,
        "healthz": ##"""
        {"operationId": "healthz", "summary": "Alive", "responses": {"200": {"description": "Alive", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}}}
        """##,
        "readyz": ##"""
        {"operationId": "readyz", "summary": "Ready to take orders", "responses": {"200": {"description": "Ready", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}, "503": \##(problem)}}
        """##,
        "metrics": ##"""
        {"operationId": "metrics", "summary": "Prometheus metrics", "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}
        """##,
        "openapi": ##"""
        {"operationId": "openapi", "summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}
        """##,
        "getOrder": ##"""
        {
          "operationId": "getOrder", "summary": "One order with its events (operator)", "security": \##(auth),
          "parameters": [\##(idParam)],
          "responses": {"200": {"description": "The order and its history", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OrderWithEvents"}}}}, \##(authErrors), "404": \##(problem)}
        }
        """##,
        "cancelOrder": ##"""
        {
          "operationId": "cancelOrder", "summary": "Cancel any order not yet final (operator)", "security": \##(auth),
          "parameters": [\##(idParam)],
          "responses": {"200": \##(orderOK), \##(authErrors), "404": \##(problem), "409": \##(problem), "503": \##(problem)}
        }
        """##,
        "requeueOrder": ##"""
        {
          "operationId": "requeueOrder", "summary": "Put a failed order back in the queue (operator)", "security": \##(auth),
          "parameters": [\##(idParam)],
          "responses": {"200": \##(orderOK), \##(authErrors), "404": \##(problem), "409": \##(problem), "503": \##(problem)}
        }
        """##,
        "claimOrder": ##"""
        {
          "operationId": "claimOrder", "summary": "Claim the next order with a lease (external cooks)", "security": \##(auth),
          "requestBody": \##(jsonBody("ClaimRequest")),
          "responses": {"200": {"description": "Claimed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Claim"}}}}, "204": {"description": "Nothing came within wait"}, "400": \##(problem), \##(authErrors), "413": \##(problem), "415": \##(problem), "422": \##(problem), "503": \##(problem)}
        }
        """##,
        "renewLease": ##"""
        {
          "operationId": "renewLease", "summary": "Extend the lease", "security": \##(auth),
          "parameters": [\##(idParam)], "requestBody": \##(jsonBody("RenewRequest")),
          "responses": {"200": {"description": "Renewed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Lease"}}}}, "400": \##(problem), \##(authErrors), "404": \##(problem), "409": \##(problem), "413": \##(problem), "415": \##(problem), "422": \##(problem), "503": \##(problem)}
        }
        """##,
        "markReady": ##"""
        {
          "operationId": "markReady", "summary": "Mark the order ready", "security": \##(auth),
          "parameters": [\##(idParam)], "requestBody": \##(jsonBody("LeaseRequest")),
          "responses": {"200": \##(orderOK), "400": \##(problem), \##(authErrors), "404": \##(problem), "409": \##(problem), "413": \##(problem), "415": \##(problem), "422": \##(problem), "503": \##(problem)}
        }
        """##,
        "failAttempt": ##"""
        {
          "operationId": "failAttempt", "summary": "Report a failed attempt", "security": \##(auth),
          "parameters": [\##(idParam)], "requestBody": \##(jsonBody("FailRequest")),
          "responses": {"200": \##(orderOK), "400": \##(problem), \##(authErrors), "404": \##(problem), "409": \##(problem), "413": \##(problem), "415": \##(problem), "422": \##(problem), "503": \##(problem)}
        }
        """##,
        "streamBoardEvents": ##"""
        {
          "operationId": "streamBoardEvents", "summary": "Server-Sent Events: the board on connect and after changes (at most 4 a second)",
          "description": "A retry: hint first, then the whole board at once and again after changes, coalesced: a number called or leaving the Ready column at once (up to two such events a second on average), any other change within half a second; id is the board's generation. A comment line every 15 s keeps the stream open. It ends at shutdown (and after event_stream_max_seconds when that is set); clients reconnect.",
          "parameters": [{"name": "Last-Event-ID", "in": "header", "description": "The board's current generation: nothing is sent until the next change. Any other value (or none): the current board at once.", "schema": {"type": "string"}}],
          "responses": {"200": {"description": "event: board, id: generation, data: the board", "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/BoardEvent"}}}}, "503": \##(problem)}
        }
        """##,
        "getStats": ##"""
        {
          "operationId": "getStats", "summary": "Live counts and the last 15 minutes in 30-second buckets (operator)", "security": \##(auth),
          "responses": {"200": {"description": "The console's figures", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stats"}}}}, \##(authErrors)}
        }
        """##,
        "claimOrderByID": ##"""
        {
          "operationId": "claimOrderByID", "summary": "Claim this order while it is queued (a kitchen screen's start)", "security": \##(auth),
          "parameters": [\##(idParam)], "requestBody": \##(jsonBody("ClaimByIDRequest")),
          "responses": {"200": {"description": "Claimed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Claim"}}}}, "400": \##(problem), \##(authErrors), "404": \##(problem), "409": \##(problem), "413": \##(problem), "415": \##(problem), "422": \##(problem), "503": \##(problem)}
        }
        """##,
        "streamKitchenEvents": ##"""
        {
          "operationId": "streamKitchenEvents", "summary": "Server-Sent Events: the kitchen's queued and cooking orders on connect and after changes (operator)", "security": \##(auth),
          "description": "As the board's stream: retry: first, the list at once and after changes (at most one event every 250 ms), id the list's generation, a comment every 15 s, until shutdown. Read it with fetch: EventSource cannot send the bearer header.",
          "parameters": [{"name": "Last-Event-ID", "in": "header", "description": "The list's current generation: nothing until the next change. Any other value: the current list.", "schema": {"type": "string"}}],
          "responses": {"200": {"description": "event: kitchen, id: generation, data: the kitchen's list", "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/KitchenEvent"}}}}, \##(authErrors), "503": \##(problem)}
        }
        """##,
    ]

    static let template = ##"""
    {
      "openapi": "3.1.0",
      "info": {"title": "ticketd", "version": "1", "description": "Order-ticket queue daemon: place an order, get a ticket at once, poll or wait for it."},
      "paths": "__PATHS__",
      "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
          "OrderLine": {"type": "object", "additionalProperties": false, "required": ["item"], "properties": {
            "item": {"type": "string", "enum": "__MENU_ENUM__"},
            "quantity": {"type": "integer", "minimum": 1, "maximum": 20, "default": 1}}},
          "OrderRequest": {"type": "object", "additionalProperties": false, "required": ["items"], "properties": {
            "items": {"type": "array", "minItems": 1, "maxItems": 50, "items": {"$ref": "#/components/schemas/OrderLine"}},
            "customer": {"type": ["string", "null"], "maxLength": 64},
            "note": {"type": ["string", "null"], "maxLength": 280},
            "priority": {"type": ["string", "null"], "enum": ["normal", "rush", null]}}},
          "Ticket": {"type": "object", "required": ["ticket", "number", "status", "version", "items", "customer", "note", "priority", "created_at", "cooking_at", "ready_at", "finished_at"], "properties": {
            "ticket": {"type": "string"},
            "number": {"type": "integer", "minimum": 1},
            "status": {"$ref": "#/components/schemas/Status"},
            "version": {"type": "integer", "minimum": 1},
            "position": {"type": "integer", "minimum": 0, "description": "Orders claimed before this one; present while queued"},
            "estimated_ready_at": {"type": "string", "format": "date-time", "description": "Present while queued or cooking"},
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/OrderLine"}},
            "customer": {"type": ["string", "null"]},
            "note": {"type": ["string", "null"]},
            "priority": {"type": "string", "enum": ["normal", "rush"]},
            "created_at": {"type": "string", "format": "date-time"},
            "cooking_at": {"type": ["string", "null"], "format": "date-time"},
            "ready_at": {"type": ["string", "null"], "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"}}},
          "Status": {"type": "string", "enum": \##(statusEnum)},
          "OperatorOrder": {"type": "object", "required": ["id", "ticket", "number", "status", "version", "priority", "items", "attempts", "max_attempts", "created_at"], "properties": {
            "id": {"type": "integer"}, "ticket": {"type": "string"}, "number": {"type": "integer"},
            "status": {"$ref": "#/components/schemas/Status"}, "version": {"type": "integer"},
            "priority": {"type": "string", "enum": ["normal", "rush"]},
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/OrderLine"}},
            "customer": {"type": ["string", "null"]}, "note": {"type": ["string", "null"]},
            "attempts": {"type": "integer"}, "max_attempts": {"type": "integer"},
            "last_error": {"type": ["string", "null"]}, "lease_owner": {"type": ["string", "null"]},
            "lease_expires_at": {"type": ["string", "null"], "format": "date-time"},
            "cook_seconds": {"type": "number"},
            "available_at": {"type": "string", "format": "date-time"},
            "created_at": {"type": "string", "format": "date-time"},
            "cooking_at": {"type": ["string", "null"], "format": "date-time"},
            "ready_at": {"type": ["string", "null"], "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"}}},
          "TicketEvent": {"description": "One Server-Sent Event (OpenAPI 3.1: the schema of a text/event-stream describes each event)", "type": "object", "required": ["event", "id", "data"], "properties": {
            "event": {"const": "ticket"}, "id": {"type": "string", "pattern": "^[0-9]+$", "description": "the ticket's version"},
            "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": {"$ref": "#/components/schemas/Ticket"}}}},
          "OrderWithEvents": {"allOf": [{"$ref": "#/components/schemas/OperatorOrder"}, {"type": "object", "required": ["events"], "properties": {
            "events": {"type": "array", "items": {"type": "object", "required": ["from", "to", "at"], "properties": {
              "from": {"type": ["string", "null"]}, "to": {"type": "string"}, "at": {"type": "string", "format": "date-time"}, "detail": {"type": ["string", "null"]}}}}}}]},
          "OrderList": {"type": "object", "required": ["orders", "next"], "properties": {
            "orders": {"type": "array", "items": {"$ref": "#/components/schemas/OperatorOrder"}},
            "next": {"type": ["string", "null"], "description": "Pass as after= for the next page"}}},
          "ClaimRequest": {"type": "object", "additionalProperties": false, "required": ["cook"], "properties": {
            "cook": {"type": "string", "minLength": 1, "maxLength": 64},
            "lease_seconds": {"type": ["number", "null"], "minimum": 1, "maximum": 3600, "default": 30},
            "wait": {"type": ["number", "null"], "minimum": 0, "maximum": "__LONG_POLL_MAX__", "default": 0, "description": "Seconds to wait for an order, up to long_poll_max_seconds"}}},
          "Claim": {"type": "object", "required": ["order", "lease", "lease_expires_at"], "properties": {
            "order": {"$ref": "#/components/schemas/OperatorOrder"}, "lease": {"type": "string"},
            "lease_expires_at": {"type": "string", "format": "date-time"}}},
          "LeaseRequest": {"type": "object", "additionalProperties": false, "required": ["lease"], "properties": {"lease": {"type": "string", "minLength": 1}}},
          "RenewRequest": {"type": "object", "additionalProperties": false, "required": ["lease"], "properties": {"lease": {"type": "string", "minLength": 1}, "lease_seconds": {"type": ["number", "null"], "minimum": 1, "maximum": 3600, "default": 30}}},
          "Lease": {"type": "object", "required": ["lease", "lease_expires_at"], "properties": {"lease": {"type": "string"}, "lease_expires_at": {"type": "string", "format": "date-time"}}},
          "FailRequest": {"type": "object", "additionalProperties": false, "required": ["lease"], "properties": {
            "lease": {"type": "string", "minLength": 1}, "error": {"type": ["string", "null"], "default": "failed"}, "retry": {"type": ["boolean", "null"], "default": true}}},
          "Menu": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {"type": "object", "required": ["item", "cook_seconds"], "properties": {"item": {"type": "string"}, "cook_seconds": {"type": "number"}}}}}},
          "Board": {"type": "object", "required": ["preparing", "ready"], "properties": {"preparing": {"type": "array", "items": {"type": "integer"}}, "ready": {"type": "array", "items": {"type": "integer"}}}},
          "LiveBoard": {"type": "object", "required": ["generation", "at", "preparing", "ready", "preparing_count", "ready_count", "typical_wait_seconds"], "properties": {
            "generation": {"type": "integer"}, "at": {"type": "string", "format": "date-time", "description": "When the board was computed"},
            "preparing": {"type": "array", "items": {"type": "integer"}, "description": "Numbers queued or cooking (at most 200)"},
            "ready": {"type": "array", "items": {"type": "integer"}, "description": "Numbers ready (at most 200)"},
            "preparing_count": {"type": "integer"}, "ready_count": {"type": "integer"},
            "typical_wait_seconds": {"type": ["integer", "null"], "description": "Median time from placement to ready of the orders that became ready in the last 15 minutes"}}},
          "BoardEvent": {"description": "One Server-Sent Event", "type": "object", "required": ["event", "id", "data"], "properties": {
            "event": {"const": "board"}, "id": {"type": "string", "pattern": "^[0-9]+$", "description": "the board's generation"},
            "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": {"$ref": "#/components/schemas/LiveBoard"}}}},
          "KitchenList": {"type": "object", "required": ["generation", "at", "queued", "cooking", "queued_count", "cooking_count"], "properties": {
            "generation": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
            "queued": {"type": "array", "items": {"$ref": "#/components/schemas/OperatorOrder"}, "description": "In claim order: rush first, then oldest (at most 200)"},
            "cooking": {"type": "array", "items": {"$ref": "#/components/schemas/OperatorOrder"}, "description": "Oldest first (at most 200)"},
            "queued_count": {"type": "integer"}, "cooking_count": {"type": "integer"}}},
          "KitchenEvent": {"description": "One Server-Sent Event", "type": "object", "required": ["event", "id", "data"], "properties": {
            "event": {"const": "kitchen"}, "id": {"type": "string", "pattern": "^[0-9]+$"},
            "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": {"$ref": "#/components/schemas/KitchenList"}}}},
          "ClaimByIDRequest": {"type": "object", "additionalProperties": false, "required": ["cook"], "properties": {
            "cook": {"type": "string", "minLength": 1, "maxLength": 64},
            "lease_seconds": {"type": ["number", "null"], "minimum": 1, "maximum": 3600, "default": 30}}},
          "Counters": {"type": "object", "required": ["placed", "ready", "picked_up", "cancelled", "failed", "expired", "requeued", "wait_p50_seconds", "wait_p90_seconds", "cook_p50_seconds"], "properties": {
            "placed": {"type": "integer"}, "ready": {"type": "integer"}, "picked_up": {"type": "integer"}, "cancelled": {"type": "integer"},
            "failed": {"type": "integer"}, "expired": {"type": "integer"}, "requeued": {"type": "integer"},
            "wait_p50_seconds": {"type": ["number", "null"]}, "wait_p90_seconds": {"type": ["number", "null"]}, "cook_p50_seconds": {"type": ["number", "null"]}}},
          "LiveCounts": {"type": "object", "required": ["queued", "cooking", "ready"], "properties": {"queued": {"type": "integer"}, "cooking": {"type": "integer"}, "ready": {"type": "integer"}}},
          "Stats": {"type": "object", "required": ["at", "bucket_seconds", "window_seconds", "live", "window", "buckets"], "properties": {
            "at": {"type": "string", "format": "date-time"}, "bucket_seconds": {"type": "integer"}, "window_seconds": {"type": "integer"},
            "live": {"$ref": "#/components/schemas/LiveCounts"},
            "window": {"$ref": "#/components/schemas/Counters"},
            "buckets": {"type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/Counters"}, {"type": "object", "required": ["start", "live"], "properties": {
              "start": {"type": "string", "format": "date-time"}, "live": {"oneOf": [{"$ref": "#/components/schemas/LiveCounts"}, {"type": "null"}]}}}]}}}},
          "Health": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
          "Problem": {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"},
            "instance": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object", "required": ["field", "message"], "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}}}
        }
      }
    }
    """##
}
