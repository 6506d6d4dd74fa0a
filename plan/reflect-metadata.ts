// The part of the Reflect metadata API that tsyringe (loaded by @peculiar/x509) checks for and uses.
// The reflect-metadata package would provide it; until it is a dependency, this does, and only when
// nothing else has installed it. Import it before @peculiar/x509.
type Key = string | symbol | undefined;

interface ReflectMetadata {
    defineMetadata(metadataKey: unknown, value: unknown, target: object, propertyKey?: Key): void;
    getOwnMetadata(metadataKey: unknown, target: object, propertyKey?: Key): unknown;
    getMetadata(metadataKey: unknown, target: object, propertyKey?: Key): unknown;
}

const reflect = Reflect as typeof Reflect & Partial<ReflectMetadata>;

if (!reflect.getMetadata) {
    const store = new WeakMap<object, Map<Key, Map<unknown, unknown>>>();
    const entries = (target: object, propertyKey: Key, create: boolean) => {
        let byProperty = store.get(target);
        if (!byProperty && create) store.set(target, (byProperty = new Map()));
        let byKey = byProperty?.get(propertyKey);
        if (!byKey && create) byProperty!.set(propertyKey, (byKey = new Map()));
        return byKey;
    };
    const metadata: ReflectMetadata = {
        defineMetadata: (metadataKey, value, target, propertyKey) =>
            void entries(target, propertyKey, true)!.set(metadataKey, value),
        getOwnMetadata: (metadataKey, target, propertyKey) => entries(target, propertyKey, false)?.get(metadataKey),
        getMetadata(metadataKey, target, propertyKey) {
            // Own metadata first, then up the prototype chain, as reflect-metadata does.
            for (let current: object | null = target; current; current = Object.getPrototypeOf(current)) {
                const found = entries(current, propertyKey, false);
                if (found?.has(metadataKey)) return found.get(metadataKey);
            }
            return undefined;
        },
    };
    Object.assign(reflect, metadata);
}
