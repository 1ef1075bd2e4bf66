// How a client's copy of a session follows its events: protocol/README.md, "Applying events".
// Each call returns a new object (the lists it changes are copied), so a UI can compare by
// identity; the session passed in is left as it was.
import type { FlatImage, Image, Message, Session, SessionEvent } from "./types.js";

export function applyEvent(session: Session, event: SessionEvent): Session {
  switch (event.type) {
    case "message.added": {
      const message: Message = event.message;
      return withImages({ ...session, messages: [...session.messages, message] }, message, message.images, event.seq);
    }
    case "image.added": {
      const index = session.messages.findIndex((message) => message.id === event.messageId);
      const message = session.messages[index];
      if (message === undefined) return { ...session, seq: event.seq };
      const image: Image = event.image;
      const messages = [...session.messages];
      messages[index] = { ...message, images: [...message.images, image] };
      return withImages({ ...session, messages }, message, [image], event.seq);
    }
    case "session.updated": {
      const next: Session = { ...session, seq: event.seq };
      const changes = event.changes;
      if (changes.status !== undefined) next.status = changes.status;
      if (changes.model !== undefined) next.model = changes.model;
      if (changes.frameSize !== undefined) next.frameSize = changes.frameSize;
      if (changes.style !== undefined) next.style = changes.style;
      if (changes.completedAt === null) delete next.completedAt;
      else if (changes.completedAt !== undefined) next.completedAt = changes.completedAt;
      return next;
    }
    case "session.deleted":
      return { ...session, seq: event.seq };
  }
}

/** Adds images of `message` to the flattened lists; an addition makes the session active again. */
function withImages(session: Session, message: Message, images: Image[], seq: number): Session {
  const flat: FlatImage[] = images.map((image) => ({
    ...image,
    prompt: message.prompt,
    timestamp: message.timestamp,
    messageId: message.id,
  }));
  const next: Session = {
    ...session,
    seq,
    images: [...session.images, ...flat],
    imageUrls: [...session.imageUrls, ...images.map((image) => image.url)],
    imageOrderMap: { ...session.imageOrderMap },
    totalImages: session.totalImages + images.length,
  };
  for (const image of images) next.imageOrderMap[image.url] = image.order;
  if (next.status !== "active") {
    next.status = "active";
    delete next.completedAt;
  }
  return next;
}
