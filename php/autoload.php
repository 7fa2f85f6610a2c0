<?php

/**
 * Dependency-free autoloader for the RR\ worker library.
 *
 * Tests and examples include this file instead of composer's autoloader; the classes
 * speak the same wire protocol as the spiral/roadrunner-* packages.
 */

declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    if (!str_starts_with($class, 'RR\\')) {
        return;
    }
    $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, 3)) . '.php';
    if (is_file($file)) {
        require $file;
    }
});
