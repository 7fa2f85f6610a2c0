<?php

declare(strict_types=1);

namespace RR\GRPC;

/**
 * Trailing metadata (newer SDK); sent in the `{"headers":…,"trailers":…}` reply form.
 */
final class ResponseTrailers extends ResponseHeaders
{
}
